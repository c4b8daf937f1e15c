"""No code from strangers: scikit-learn saved with skops, unsafe formats marked, ed25519
signatures over mloop-model.yaml, and loading only what trusted keys signed."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

import mloop
import mloop.models
from mloop.errors import InvalidArgument, ModelIntegrityError
from mloop.models import TrustedKeys, generate_keypair
from mloop.models._signing import SIGNATURE_FILE, load_private_key, sign_folder

X = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [0.5, 0.1, 0.9, 0.3]})


def fitted() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(X, [0, 0, 1, 1])


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    return generate_keypair(tmp_path / "keys" / "release")


def _meta(folder: Path) -> dict[str, Any]:
    return yaml.safe_load((folder / "mloop-model.yaml").read_text())  # type: ignore[no-any-return]


def test_sklearn_is_saved_with_skops_not_pickle(tmp_path: Path) -> None:
    model = fitted()
    mloop.models.save(model, tmp_path / "m")
    meta = _meta(tmp_path / "m")
    assert meta["flavor"]["options"] == {"file": "model.skops", "serialization": "skops"}
    assert meta["unsafe"] is False
    assert not list((tmp_path / "m").glob("*.pkl"))
    loaded = mloop.models.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_pickle_is_still_possible_and_marked_unsafe(tmp_path: Path) -> None:
    mloop.models.save(fitted(), tmp_path / "m", serialization="pickle")
    meta = _meta(tmp_path / "m")
    assert meta["flavor"]["options"]["serialization"] == "pickle"
    assert meta["unsafe"] is True
    with pytest.raises(InvalidArgument, match="serialization 'joblib'"):
        mloop.models.save(fitted(), tmp_path / "n", serialization="joblib")


class Evil:
    """A pickle payload: unpickling it runs ``os.system``."""

    def __reduce__(self) -> Any:
        import os

        return (os.system, ("echo pwned > pwned.txt",))


def test_skops_refuses_a_file_with_untrusted_types(tmp_path: Path) -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    model = make_pipeline(FunctionTransformer(np.log1p), fitted())
    mloop.models.save(model.fit(X, [0, 0, 1, 1]), tmp_path / "m")
    folder = tmp_path / "m"
    assert _meta(folder)["flavor"]["options"]["serialization"] == "skops"
    # A skops file whose types are all trusted loads; swap in a pickle under the same name and
    # fix the digest: the loader reads it as skops, not as a pickle, so nothing runs.
    meta = _meta(folder)
    evil = pickle.dumps(Evil())
    (folder / "model.skops").write_bytes(evil)
    import hashlib

    meta["files"]["model.skops"] = hashlib.sha256(evil).hexdigest()
    (folder / "mloop-model.yaml").write_text(yaml.safe_dump(meta))
    with pytest.raises(Exception):  # noqa: B017 - skops refuses what is not its zip format
        mloop.models.load(folder)
    assert not (Path.cwd() / "pwned.txt").exists()


def test_a_signed_folder_loads_under_trust(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    private, public = keys
    folder = tmp_path / "m"
    mloop.models.save(fitted(), folder, input_example=X)
    trust = TrustedKeys.from_files([public])
    with pytest.raises(ModelIntegrityError, match="unsigned model"):
        mloop.models.load(folder, trust=trust)
    key_id = mloop.models.sign(folder, private)
    assert trust.ids() == [key_id]
    assert (folder / SIGNATURE_FILE).is_file()
    loaded = mloop.models.load(folder, trust=trust)
    assert loaded.extra_files == []  # the signature file is not an unlisted extra
    np.testing.assert_array_equal(loaded.predict(X), fitted().predict(X))


def test_tampering_breaks_the_signature(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    private, public = keys
    trust = TrustedKeys.from_files([public])
    folder = tmp_path / "m"
    mloop.models.save(fitted(), folder)
    sign_folder(folder, load_private_key(private))
    # An attacker swaps the model for a pickle and rewrites the manifest to match.
    meta = _meta(folder)
    evil = pickle.dumps(Evil())
    (folder / "model.pkl").write_bytes(evil)
    import hashlib

    meta["flavor"]["options"] = {"file": "model.pkl", "serialization": "pickle"}
    meta["files"] = {"model.pkl": hashlib.sha256(evil).hexdigest()}
    (folder / "mloop-model.yaml").write_text(yaml.safe_dump(meta))
    with pytest.raises(ModelIntegrityError, match="no signature by a trusted key"):
        mloop.models.load(folder, trust=trust)
    assert not (tmp_path / "pwned.txt").exists()


def test_another_key_is_not_trusted(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    private, _ = keys
    _, other_public = generate_keypair(tmp_path / "other")
    folder = tmp_path / "m"
    mloop.models.save(fitted(), folder)
    sign_folder(folder, load_private_key(private))
    with pytest.raises(ModelIntegrityError, match="no signature by a trusted key"):
        mloop.models.load(folder, trust=TrustedKeys.from_files([other_public]))
    # Two keys may sign; either trusted key then accepts it.
    other_private = tmp_path / "other.key"
    sign_folder(folder, load_private_key(other_private))
    signatures = yaml.safe_load((folder / SIGNATURE_FILE).read_text())["signatures"]
    assert len(signatures) == 2
    mloop.models.load(folder, trust=TrustedKeys.from_files([other_public]))


def test_bad_key_files(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    private, public = keys
    junk = tmp_path / "junk.pub"
    junk.write_text("not a key")
    with pytest.raises(InvalidArgument, match="no ed25519 public key"):
        TrustedKeys.from_files([junk])
    with pytest.raises(InvalidArgument, match="cannot read"):
        TrustedKeys.from_files([tmp_path / "missing.pub"])
    with pytest.raises(InvalidArgument, match="cannot read the private key"):
        load_private_key(public)
    assert oct(private.stat().st_mode & 0o777) == "0o600"


def test_a_registered_version_is_signed_where_it_lives(
    mloop_home: Path, keys: tuple[Path, Path]
) -> None:
    private, public = keys
    trust = TrustedKeys.from_files([public])
    with mloop.start_run():
        info = mloop.models.log_model(fitted(), "clf", registered_model_name="churn")
    uri = "models:/churn/1"
    # Loaded (and cached) before it is signed: refused under trust.
    mloop.models.load(uri)
    with pytest.raises(ModelIntegrityError, match="unsigned model"):
        mloop.models.load(uri, trust=trust)
    mloop.models.sign(uri, private)
    loaded = mloop.models.load(uri, trust=trust)  # the cached copy is fetched again, signed
    assert (loaded.path / SIGNATURE_FILE).is_file()
    assert info.model_uri.startswith("runs:/")
    # A cached copy tampered with after the fetch is not served: fetched again and verified.
    (loaded.path / "model.skops").write_bytes(b"tampered")
    again = mloop.models.load(uri, trust=trust)
    np.testing.assert_array_equal(again.predict(X), fitted().predict(X))


def test_cli_keygen_and_sign(mloop_home: Path, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from mloop.cli import app

    runner = CliRunner()
    made = runner.invoke(app, ["models", "keygen", str(tmp_path / "k" / "ci"), "--json"])
    assert made.exit_code == 0, made.output
    key = json.loads(made.stdout)
    folder = tmp_path / "m"
    mloop.models.save(fitted(), folder)
    signed = runner.invoke(
        app, ["models", "sign", str(folder), "--key", key["private_key"], "--json"]
    )
    assert signed.exit_code == 0, signed.output
    assert json.loads(signed.stdout)["key_id"] == key["key_id"]
    mloop.models.load(folder, trust=TrustedKeys.from_files([key["public_key"]]))
    refused = runner.invoke(app, ["models", "sign", str(folder), "--key", str(folder)])
    assert refused.exit_code != 0
