"""``python -m mloop.pipeline._child TASK OUTCOME``: run one step attempt in this process (the
local executor uses it for steps with a timeout, so that they can be killed)."""

from __future__ import annotations

import os
import pickle
import sys


def main(argv: list[str]) -> int:
    import cloudpickle  # type: ignore[import-untyped]

    from mloop.pipeline._task import run_remote

    task_file, out_file = argv
    with open(task_file, "rb") as f:
        task = cloudpickle.load(f)
    outcome = run_remote(task)
    tmp = out_file + ".tmp"
    with open(tmp, "wb") as f:
        pickle.dump(outcome, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, out_file)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
