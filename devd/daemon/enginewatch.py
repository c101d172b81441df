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

An engine can also freeze (dockerd stopped by SIGSTOP, or hung): its socket accepts
connections but nothing answers, so no request fails — it hangs until docker-py gives up a
minute later. Work that waits on the engine runs inside :meth:`EngineWatch.in_flight`; once
some has been in flight for ``answer_within`` seconds, a watchdog thread pings the engine (a
ping of its own, with a short timeout: the work's requests, which may rightly take minutes —
a long build, a long wait — are never cut), and again every ``reping`` seconds while work
stays in flight. A ping that gets no answer is an outage like any other: said once, work
held, services put right when the engine answers. With nothing in flight the watchdog sleeps
on a condition (no polling).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from devd.errors import EngineUnavailable

FIRST_PROBE_S = 0.05
PROBE_CAP_S = 1.0
ANSWER_WITHIN_S = 1.0
"""Work in flight this long has the watchdog ping the engine (quicker work never does)."""
REPING_S = 2.0
"""The least time between the watchdog's pings while work stays in flight."""

LOST = "engine unavailable; devd keeps watching and carries on when it is back"
FROZEN = "engine not answering; devd holds work and carries on when it answers"
NOT_ANSWERING = "accepts connections but has not answered"
"""How a reason for an engine that does not answer starts (:func:`not_answering`)."""


def not_answering(seconds: float) -> str:
    """The reason for an engine whose socket accepts but which did not answer in ``seconds``."""
    return f"{NOT_ANSWERING} for {round(seconds, 1):g} s"


def ping_due(
    oldest: float, last_ping: float, after: float = ANSWER_WITHIN_S, every: float = REPING_S
) -> float:
    """When the watchdog next pings: ``after`` seconds into the oldest work in flight (started
    at ``oldest``), and not sooner than ``every`` seconds after its last ping ended."""
    return max(oldest + after, last_ping + every)


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
    the probing, the watchdog and every wait. ``answer_within`` and ``reping``: see
    :meth:`in_flight`.
    """

    def __init__(
        self,
        unreachable: Callable[[], str | None],
        out: Reporter,
        where: str,
        on_back: Callable[[], None],
        stop: threading.Event,
        clock: Callable[[], float] = time.monotonic,
        answer_within: float = ANSWER_WITHIN_S,
        reping: float = REPING_S,
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
        self._answer_within = answer_within
        self._reping = reping
        self._in_flight: dict[int, float] = {}  # token -> when that work started
        self._tokens = itertools.count()
        self._last_ping = -math.inf  # when the watchdog's last ping ended
        self._watchdog: threading.Thread | None = None
        self.pings = 0  # the watchdog's pings (tests)

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

    @contextlib.contextmanager
    def in_flight(self) -> Iterator[None]:
        """Mark work that waits on the engine while the block runs: if some is still running
        ``answer_within`` seconds after it started, the watchdog pings the engine, and again
        every ``reping`` seconds while any runs; an engine that does not answer (frozen,
        hung) is then lost like one that stopped. The block itself is never interrupted."""
        token = next(self._tokens)
        with self._cond:
            self._in_flight[token] = self._clock()
            if self._watchdog is None:
                self._watchdog = threading.Thread(
                    target=self._watch_in_flight, name="engine-watchdog", daemon=True
                )
                self._watchdog.start()
            self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                del self._in_flight[token]

    def _watch_in_flight(self) -> None:
        """The watchdog: ping whenever a ping is due, until devd stops."""
        while self._ping_due():
            reason = self._unreachable()
            with self._cond:
                self._last_ping = self._clock()
                self.pings += 1
            if reason is not None:
                self._lost(reason)

    def _ping_due(self) -> bool:
        """Block until a ping is due (work in flight long enough, the engine not known gone);
        False once devd stops. Asleep on the condition while nothing is in flight."""
        with self._cond:
            while not self._stop.is_set():
                if self._down_since is not None or not self._in_flight:
                    self._cond.wait()
                    continue
                oldest = min(self._in_flight.values())
                due = ping_due(oldest, self._last_ping, self._answer_within, self._reping)
                wait = due - self._clock()
                if wait <= 0:
                    return True
                self._cond.wait(wait)
            return False

    def _lost(self, reason: str) -> None:
        with self._cond:
            if self._down_since is not None:
                return
            self._down_since = self._clock()
            self.outages += 1
        frozen = reason.startswith(NOT_ANSWERING)
        self._out.error(FROZEN if frozen else LOST, engine=self._where, reason=reason)
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
