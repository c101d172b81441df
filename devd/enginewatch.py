"""Waiting out the engine: noticing it has gone, probing until it is back, saying both.

``devd up`` outlives its engine: dockerd restarting (a package upgrade, Docker Desktop
restarting, a crash) must not end the session or leave the developer without their app.
Whoever sees a sign of trouble — a request that cannot reach the engine, a build stream cut
short, a log stream that ends — asks :meth:`EngineWatch.check`; one ping tells a dead engine
from a failure of the request itself. The first to find it dead reports it in one line and
starts one probe thread, which pings with a backoff capped at about a second (nothing hot)
until the engine answers; then ``on_back`` puts the services right (the daemon's
reconciliation), the watch reports the engine back with how long it was gone, and everyone
blocked in :meth:`EngineWatch.wait_up` goes on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from devd.errors import EngineUnavailable

FIRST_PROBE_S = 0.05
PROBE_CAP_S = 1.0


class Reporter(Protocol):
    """Where the watch says what happened (:class:`devd.output.Output`)."""

    def info(self, event: str, **fields: Any) -> None: ...

    def error(self, event: str, **fields: Any) -> None: ...


def backoff(first: float = FIRST_PROBE_S, cap: float = PROBE_CAP_S) -> Iterator[float]:
    """The waits between probes: doubling from ``first``, never more than ``cap``."""
    delay = first
    while True:
        yield delay
        delay = min(cap, delay * 2)


class EngineWatch:
    """Whether the engine answers, and waiting for it when it does not.

    ``unreachable`` pings the engine: None when it answers, else why not. ``where`` names
    the engine in messages (the socket, and whether DOCKER_HOST chose it). ``on_back`` runs
    on the probe thread once the engine answers again, before anyone waiting goes on; if it
    raises EngineUnavailable the engine has gone again and probing resumes. ``stop`` ends
    the probing and every wait.
    """

    def __init__(
        self,
        unreachable: Callable[[], str | None],
        out: Reporter,
        where: str,
        on_back: Callable[[], None],
        stop: threading.Event,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._unreachable = unreachable
        self._out = out
        self._where = where
        self._on_back = on_back
        self._stop = stop
        self._clock = clock
        self._cond = threading.Condition()
        self._down_since: float | None = None
        self.outages = 0  # how many times the engine went away (tests, status)

    @property
    def down(self) -> bool:
        """Whether the engine is known to be gone (probing until it answers)."""
        return self._down_since is not None

    def check(self) -> bool:
        """Whether the engine answers now; when it does not, report it and start waiting
        for it (once, however many ask)."""
        if self.down:
            return False
        reason = self._unreachable()
        if reason is None:
            return True
        self._lost(reason)
        return False

    def wait_up(self) -> bool:
        """Block while the engine is gone; True once it answers, False when devd stops."""
        with self._cond:
            while self._down_since is not None and not self._stop.is_set():
                self._cond.wait()
            return not self._stop.is_set()

    def wake(self) -> None:
        """Wake every :meth:`wait_up` (call after setting ``stop``)."""
        with self._cond:
            self._cond.notify_all()

    def _lost(self, reason: str) -> None:
        with self._cond:
            if self._down_since is not None:
                return
            self._down_since = self._clock()
            self.outages += 1
        self._out.error(
            "engine unavailable; devd keeps watching and carries on when it is back",
            engine=self._where,
            reason=reason,
        )
        threading.Thread(target=self._probe, name="engine-probe", daemon=True).start()

    def _probe(self) -> None:
        """Ping with backoff until the engine answers and ``on_back`` has run, then go on."""
        for delay in backoff():
            if self._stop.wait(delay):
                self.wake()
                return
            if self._unreachable() is not None:
                continue
            since = self._down_since or 0.0
            self._out.info(
                "engine back", engine=self._where, down_s=round(self._clock() - since, 2)
            )
            try:
                self._on_back()
            except EngineUnavailable as error:  # gone again while the services were put right
                self._out.error("engine unavailable again", engine=self._where, reason=str(error))
                continue
            except Exception as error:  # never leave everyone waiting for a watch that died
                self._out.error("could not put the services right", error=repr(error))
            break
        with self._cond:
            self._down_since = None
            self._cond.notify_all()
