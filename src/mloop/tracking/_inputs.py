"""Dataset lineage of runs: ``mloop.log_input(dataset, context="train")``.

Tracking sits beside ``mloop.data`` and does not import it: a dataset is anything with ``name``
and ``version`` attributes (a :class:`mloop.data.Dataset`, a store record), or a ``datasets:/``
URI resolved through the store.
"""

from __future__ import annotations

from typing import Any

from mloop.errors import InvalidArgument
from mloop.tracking._fluent import _require_run


def log_input(dataset: Any, context: str = "train") -> None:
    """Record that the active run read a dataset version, in a role such as ``"train"`` or
    ``"eval"``. Written at once (not batched); recording it again changes nothing.

    Args:
        dataset: a :class:`mloop.data.Dataset`, or a ``datasets:/name/3``,
            ``datasets:/name@latest`` or ``datasets:/name@<digest-prefix>`` URI (``@latest`` is
            resolved now, so the run records the exact version).
        context: the role the data played.

    Raises:
        NoActiveRun: outside ``mloop.start_run()``.
        DatasetNotFound: no such dataset version.

    Example::

        train = mloop.data.register(df, "churn-train")
        with mloop.start_run():
            mloop.log_input(train, context="train")
            mloop.log_input("datasets:/churn-eval@latest", context="eval")
    """
    run = _require_run()
    store = run._client.store
    name: Any
    version: Any
    if isinstance(dataset, str):
        found = store.get_dataset_version_by_uri(dataset)
        name, version = found.name, found.version
    else:
        name, version = getattr(dataset, "name", None), getattr(dataset, "version", None)
        if name is None or version is None:
            raise InvalidArgument(
                "log_input takes a Dataset (an object with name and version) or a datasets:/ "
                f"URI, got {type(dataset).__name__}"
            )
    store.log_inputs(run.run_id, [(name, version, context)])
