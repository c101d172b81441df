"""Noticing that a service's anchor stopped while ``devd up`` is idle.

A service's container joins its anchor's network (:mod:`devd.anchors`); an anchor stopped
by hand (``docker stop``) leaves the container running with no network but loopback, and
nothing of devd's hears of it: no request fails, no log stream ends. The engine's event
stream does say it. :class:`AnchorWatch` holds one such stream open, filtered by the engine
to the ``die`` events of the project's anchors (so nothing else is sent, and nothing is
polled), and hands each to the supervisor, whose controller of that service judges it
(:meth:`devd.daemon.controller.ServiceController.anchor_stopped`).

The stream ends when the engine goes away; the watch then asks the engine watch
(:mod:`devd.enginewatch`), which says the outage once and probes, and opens the stream again
once the engine answers (an engine coming back has each service put right by its
controller, anchors included). A stream that ends while the engine answers is opened again
after a backoff (0.5 s doubling to 30 s), so a refusing engine costs nothing
hot. A frozen engine sends nothing on it, and the watch waits with it: the freeze is noticed
by the work in flight, as before.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from devd.daemon.enginewatch import backoff
from devd.engine.anchors import AnchorStopped
from devd.errors import DevdError

FIRST_RETRY_S = 0.5
RETRY_CAP_S = 30.0
STEADY_S = 60.0
"""A stream open this long before it ended was healthy: the next retry starts from the first."""


class EngineState(Protocol):
    """What the anchor watch asks of :class:`devd.enginewatch.EngineWatch`."""

    def check(self) -> bool: ...

    def wait_up(self) -> bool: ...


class AnchorWatch:
    """Follows ``stops`` (the engine's stream of the project's anchors stopping) and calls
    ``on_stop`` with each, until ``stop`` is set; see the module docstring."""

    def __init__(
        self,
        stops: Callable[[], Iterable[AnchorStopped]],
        on_stop: Callable[[AnchorStopped], None],
        engine: EngineState,
        stop: threading.Event,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stops = stops
        self._on_stop = on_stop
        self._engine = engine
        self._stop = stop
        self._clock = clock
        self.streams = 0  # how many times the stream was opened (tests)

    def run(self) -> None:
        """Open the stream, hand on what it says, open it again when it ends."""
        delays = backoff(FIRST_RETRY_S, RETRY_CAP_S)
        while self._engine.wait_up():
            opened = self._clock()
            self.streams += 1
            try:
                for stopped in self._stops():
                    self._on_stop(stopped)
            except DevdError:
                pass  # the engine went away (asked below) or refused the stream: try again
            if self._stop.is_set():
                return
            self._engine.check()  # gone? said once, and wait_up then waits for it
            if self._clock() - opened >= STEADY_S:
                delays = backoff(FIRST_RETRY_S, RETRY_CAP_S)
            if self._stop.wait(next(delays)):
                return
