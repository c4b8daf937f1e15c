"""Loop controllers in threads of another process (``mloop server --loop loop.yaml``), so the
embedded default needs no second process. Each runs :meth:`Controller.run`; the lease in the
store still keeps one controller per loop when several servers run the same loops."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from mloop.errors import LoopLeaseHeld, MloopError
from mloop.loop._controller import Controller
from mloop.loop._spec import LoopSpec

__all__ = ["LoopThreads"]

logger = logging.getLogger("mloop.loop")


class LoopThreads:
    """Controllers for ``specs``, each ticking every ``interval_s`` in a daemon thread.

    Example::

        threads = LoopThreads([load_loop("loop.yaml")]).start()
        ...
        threads.stop()
    """

    def __init__(self, specs: Sequence[LoopSpec], *, interval_s: float = 5.0) -> None:
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise MloopError(f"a loop is given twice: {', '.join(names)}")
        self.controllers = [Controller(spec) for spec in specs]
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> LoopThreads:
        for controller in self.controllers:
            thread = threading.Thread(
                target=self._run, args=(controller,), name=f"mloop-loop-{controller.spec.name}"
            )
            thread.daemon = True
            thread.start()
            self._threads.append(thread)
        return self

    def _run(self, controller: Controller) -> None:
        waiting = False
        while not self._stop.is_set():
            try:
                controller.run(
                    interval_s=self.interval_s, should_stop=self._stop.is_set, sleep=self._stop.wait
                )
            except LoopLeaseHeld as exc:
                if not waiting:
                    logger.warning("loop %s: %s; waiting for the lease", controller.spec.name, exc)
                waiting = True
                self._stop.wait(self.interval_s)
            except Exception as exc:  # a bug in one tick must not end the loop for good
                logger.error("loop %s: tick failed: %s", controller.spec.name, exc, exc_info=exc)
                self._stop.wait(self.interval_s)

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
