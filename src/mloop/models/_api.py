"""``save``, ``load`` and ``log_model``: the model folder in, a :class:`LoadedModel` out."""

from __future__ import annotations

import logging
import os
import platform
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mloop.errors import (
    AlreadyExists,
    InvalidArgument,
    MloopError,
    ModelError,
    ModelIntegrityError,
    NoActiveRun,
)
from mloop.models._flavor import Predictor, detect_flavor, get_flavor
from mloop.models._format import (
    FORMAT_VERSION,
    FlavorSpec,
    ModelMetadata,
    hash_files,
    read_metadata,
    verify_files,
    write_metadata,
)
from mloop.models._loaded import LoadedModel
from mloop.models._requirements import pinned_requirements
from mloop.models._signature import Signature, infer_spec
from mloop.models._signing import TrustedKeys
from mloop.models._validate import make_input_validator

__all__ = ["ModelInfo", "load", "load_folder", "log_model", "save"]

logger = logging.getLogger("mloop.models")

_MAX_INDIRECTIONS = 4


@dataclass(frozen=True)
class ModelInfo:
    """What :func:`save` and :func:`log_model` wrote.

    Attributes:
        model_uri: the URI to load it with: the folder's path for ``save``,
            ``runs:/<run_id>/<name>`` for ``log_model``.
        flavor: the flavor's name.
        signature: the signature recorded (given or inferred), or None.
        metadata: the whole ``mloop-model.yaml``.
        path: the local folder ``save`` wrote (None after ``log_model``: the folder was
            uploaded to the run's artifacts and removed).
        run_id: the run the model belongs to, if any.
        artifact_path: the model's folder in the run's artifacts (``log_model``).
        registered_model_version: the registry's ``ModelVersion`` when ``log_model`` registered
            the model.
    """

    model_uri: str
    flavor: str
    signature: Signature | None
    metadata: ModelMetadata
    path: Path | None = None
    run_id: str | None = None
    artifact_path: str | None = None
    registered_model_version: Any = None


def _now_ms() -> int:
    from mloop._core import now_ms

    return now_ms()


def _mloop_version() -> str:
    import mloop

    return mloop.__version__


REFERENCE_PROFILE = "reference.profile"


def save(
    model: Any,
    path: str | os.PathLike[str],
    *,
    flavor: str | None = None,
    signature: Signature | dict[str, Any] | None = None,
    input_example: Any = None,
    requirements: Sequence[str] | None = None,
    run_id: str | None = None,
    dataset_hashes: Sequence[str] | None = None,
    reference_data: Any = None,
    **flavor_options: Any,
) -> ModelInfo:
    """Save ``model`` as a model folder at ``path``.

    The flavor comes from the model's type (scikit-learn, LightGBM, XGBoost, PyTorch, ONNX,
    Keras, or any object with ``predict``: a generic Python model) unless ``flavor`` names one.
    Without a ``signature``, the input signature is inferred from ``input_example`` and the
    output signature from the saved model's predictions on it; so the model is also loaded back
    once and run, and a model that cannot be is refused here rather than at serving time.

    Args:
        model: the fitted model.
        path: a folder that does not exist yet, or is empty.
        flavor: ``sklearn``, ``lightgbm``, ``xgboost``, ``pytorch``, ``onnx``, ``keras`` or
            ``pyfunc``; detected when None.
        signature: the inputs and outputs; inferred from the example when None.
        input_example: a few rows (DataFrame, pyarrow Table, numpy array, list of dicts),
            stored with the model.
        requirements: more requirements, added to the pinned framework, numpy, pandas and
            mloop (one with the name of a pinned package replaces its pin).
        run_id: the run the model came from.
        dataset_hashes: content hashes of the datasets it was trained on.
        reference_data: the training data (a table); its profile is stored with the model as
            ``reference.profile``, the reference that drift monitoring compares traffic with,
            so the data itself need not be kept.
        **flavor_options: options of the flavor (e.g. ``artifacts=`` for pyfunc,
            ``module_class=``/``init_kwargs=`` for a PyTorch ``nn.Module``).

    Returns:
        What was written.

    Raises:
        AlreadyExists: ``path`` exists and is not an empty folder.
        UnknownFlavor: no flavor handles the model, or ``flavor`` is unknown.
        SignatureMismatch: the example does not match the given signature.
        InvalidArgument: an unknown flavor option, an unfitted model, a bad example.
        ModelError: the framework failed to save the model, or the model failed on its example.

    Example::

        info = mloop.models.save(pipeline, "churn-model", input_example=X_train.head(20))
        model = mloop.models.load(info.model_uri)
    """
    dest = Path(path).expanduser()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise AlreadyExists(
            f"{str(dest)!r} exists and is not an empty folder: save the model to a new folder",
            details={"path": str(dest)},
        )
    if isinstance(model, LoadedModel):
        raise InvalidArgument(
            "save() takes the framework's model, not a LoadedModel: pass loaded.unwrap(), or "
            "copy the loaded model's folder"
        )
    flavor_name = flavor if flavor is not None else detect_flavor(model)
    impl = get_flavor(flavor_name)
    sig = _as_signature(signature)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    try:
        options = impl.save(model, tmp, flavor_options)
        example_file = None
        if input_example is not None:
            from mloop.models._example import write_example

            example_file = write_example(input_example, tmp)
            sig = _check_or_infer(impl.name, sig, input_example, lambda: impl.load(tmp, options))
        reference_file = None
        if reference_data is not None:
            from mloop.data import profile

            reference_file = REFERENCE_PROFILE
            (tmp / reference_file).write_bytes(profile(reference_data).to_bytes())
        metadata = ModelMetadata(
            format_version=FORMAT_VERSION,
            flavor=FlavorSpec(name=impl.name, options=options),
            signature=sig,
            input_example=example_file,
            requirements=pinned_requirements(impl.requirements(tmp, options), requirements),
            python_version=platform.python_version(),
            files=hash_files(tmp),
            run_id=run_id,
            dataset_hashes=list(dataset_hashes or []),
            reference_profile=reference_file,
            created_time=_now_ms(),
            mloop_version=_mloop_version(),
            unsafe=impl.unsafe(options),
        )
        write_metadata(tmp, metadata)
        if dest.exists():
            dest.rmdir()
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ModelInfo(
        model_uri=str(dest),
        flavor=impl.name,
        signature=sig,
        metadata=metadata,
        path=dest,
        run_id=run_id,
    )


def _as_signature(signature: Signature | dict[str, Any] | None) -> Signature | None:
    if signature is None or isinstance(signature, Signature):
        return signature
    if isinstance(signature, dict):
        from pydantic import ValidationError

        try:
            return Signature.model_validate(signature)
        except ValidationError as exc:
            raise InvalidArgument(f"not a valid signature: {exc}") from None
    raise InvalidArgument(
        f"signature must be a mloop.models.Signature (see infer_signature), not "
        f"{type(signature).__name__}"
    )


def _check_or_infer(
    flavor: str, sig: Signature | None, example: Any, load_saved: Callable[[], Predictor]
) -> Signature:
    """Check the example against the given signature, or infer the signature from it (the
    outputs by running the saved model on the example, as ``predict`` would)."""
    if sig is not None:
        make_input_validator(sig.inputs)(example)
        return sig
    inputs = infer_spec(example, "input example")
    predictor = load_saved()
    prepared = make_input_validator(inputs)(example)
    try:
        output = predictor.predict(prepared)
    except MloopError:
        raise
    except Exception as exc:
        raise ModelError(
            f"the {flavor} model failed on its input example: {type(exc).__name__}: {exc}"
        ) from exc
    try:
        outputs = infer_spec(output, "model's output")
    except InvalidArgument as exc:
        logger.warning("no output signature: %s", exc)
        outputs = None
    return Signature(inputs=inputs, outputs=outputs)


def load_folder(folder: Path, *, trust: TrustedKeys | None = None) -> LoadedModel:
    """Load the model folder ``folder``, verifying every file's sha256 first (and, with
    ``trust``, that one of those keys signed its ``mloop-model.yaml``).

    Raises:
        ModelNotFound: no folder, or no ``mloop-model.yaml`` in it.
        ModelIntegrityError: a file listed in ``mloop-model.yaml`` is missing or changed.
        UnknownFlavor, ModelError: see :func:`load`.
    """
    metadata = read_metadata(folder)
    if trust is not None:
        trust.verify_folder(folder)
    extra = verify_files(folder, metadata.files)
    if extra:
        logger.warning(
            "the model folder %s holds files that its mloop-model.yaml does not list (ignored): %s",
            folder,
            ", ".join(extra),
        )
    impl = get_flavor(metadata.flavor.name)
    predictor = impl.load(folder, metadata.flavor.options, verified=metadata.files.keys())
    return LoadedModel(folder, metadata, predictor, extra)


def load(uri: str | os.PathLike[str], *, trust: TrustedKeys | None = None) -> LoadedModel:
    """Load a model from a folder, a run, the registry, or any fsspec URL.

    Accepted URIs:

    - a local folder (``path/to/model`` or ``file:///path/to/model``);
    - ``runs:/<run_id>/<path>``: a model logged with :func:`log_model`;
    - ``models:/<name>/<version>`` and ``models:/<name>@<alias>``: through the registry;
    - any other URL fsspec reads (``s3://bucket/models/churn``).

    Models from runs and URLs are downloaded into ``$MLOOP_HOME/cache/models/`` (reused while
    the model is unchanged). Every file's sha256 is verified before anything is unpickled;
    with ``trust`` (:class:`~mloop.models.TrustedKeys`), a model that none of those keys
    signed is refused before any of its files is read.

    Raises:
        ModelNotFound: nothing at that URI, or not an mloop model.
        ModelIntegrityError: a file is missing, truncated or changed since the model was saved
            (the message names it).
        UnknownFlavor: ``mloop-model.yaml`` names a flavor this mloop does not know.
        ModelError: the file format is newer than this mloop, or the framework failed.
        RegistryError: a ``models:/`` URI names no version (``ModelVersionNotFound``, ...).

    Example::

        model = mloop.models.load("models:/churn@champion")
        predictions = model.predict(df)
    """
    return _load(os.fspath(uri), 0, trust)


def _load(uri: str, depth: int, trust: TrustedKeys | None = None) -> LoadedModel:
    if uri.startswith("models:/"):
        if depth >= _MAX_INDIRECTIONS:
            raise ModelError(f"{uri!r}: too many registry indirections (a source loop?)")
        from mloop.registry import resolve

        return _load(resolve(uri).source, depth + 1, trust)
    if uri.startswith("runs:/"):
        from mloop._core import parse_runs_uri
        from mloop.models._cache import RunFetcher
        from mloop.tracking import Client

        parsed = parse_runs_uri(uri)
        client = Client()
        return _load_cached(RunFetcher(client, parsed.run_id, parsed.path, uri), trust)
    if uri.startswith("file://"):
        return load_folder(Path(uri[len("file://") :]), trust=trust)
    if "://" in uri:
        from mloop.models._cache import UrlFetcher
        from mloop.store import storage_options
        from mloop.store._context import current

        return _load_cached(UrlFetcher(uri, storage_options(current().settings)), trust)
    return load_folder(Path(uri).expanduser(), trust=trust)


def _load_cached(fetcher: Any, trust: TrustedKeys | None = None) -> LoadedModel:
    from mloop.models._cache import fetch
    from mloop.store._context import current

    root = current().settings.home / "cache" / "models"
    try:
        return load_folder(fetch(fetcher, root), trust=trust)
    except ModelIntegrityError:
        # The cached copy may have been damaged after it was fetched (or signed since): fetch
        # it again, once.
        return load_folder(fetch(fetcher, root, refresh=True), trust=trust)


def log_model(
    model: Any,
    name: str = "model",
    *,
    input_example: Any = None,
    signature: Signature | dict[str, Any] | None = None,
    registered_model_name: str | None = None,
    **save_kwargs: Any,
) -> ModelInfo:
    """Save ``model`` into the active run's artifacts under ``name``, and register it.

    Args:
        model: the fitted model.
        name: the artifact folder of the model in the run (``runs:/<run_id>/<name>``).
        input_example, signature: as for :func:`save`.
        registered_model_name: register the logged model as the next version of this
            registered model (created if needed).
        **save_kwargs: the other arguments of :func:`save` (``flavor``, ``requirements``,
            ``dataset_hashes``, flavor options).

    Returns:
        What was logged; ``model_uri`` is ``runs:/<run_id>/<name>`` and
        ``registered_model_version`` the new version when the model was registered.

    Raises:
        NoActiveRun: no run is active (wrap the call in ``with mloop.start_run():``).
        Everything :func:`save` raises.

    Example::

        with mloop.start_run():
            model.fit(X, y)
            mloop.models.log_model(model, input_example=X.head(5),
                                   registered_model_name="churn")
    """
    from mloop.tracking import active_run, log_artifacts

    run = active_run()
    if run is None:
        raise NoActiveRun(
            "log_model needs an active run: wrap the call in `with mloop.start_run():`"
        )
    if "run_id" in save_kwargs or "path" in save_kwargs:
        raise InvalidArgument("log_model sets the model's run and path itself")
    with tempfile.TemporaryDirectory(prefix="mloop-model-") as tmp:
        info = save(
            model,
            Path(tmp) / "model",
            input_example=input_example,
            signature=signature,
            run_id=run.run_id,
            **save_kwargs,
        )
        log_artifacts(Path(tmp) / "model", name)
    uri = f"runs:/{run.run_id}/{name.strip('/')}"
    version = None
    if registered_model_name is not None:
        from mloop.registry import register_model

        version = register_model(uri, registered_model_name, run_id=run.run_id)
    return replace(
        info,
        model_uri=uri,
        path=None,
        artifact_path=name.strip("/"),
        registered_model_version=version,
    )
