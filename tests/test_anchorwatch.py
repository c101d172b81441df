"""devd.anchorwatch with fakes: the stream of anchors stopping is followed, opened again when
it ends (after asking whether the engine went, with a backoff), and left when devd stops."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from devd.daemon.anchorwatch import FIRST_RETRY_S, AnchorWatch
from devd.engine.anchors import AnchorStopped
from devd.errors import EngineUnavailable

pytestmark = pytest.mark.timeout(10)

STOPPED = AnchorStopped("app", "a" * 64, "p-app.anchor")


class FakeEngine:
    """The engine watch: up; counts the checks; stops devd after ``checks_left`` checks."""

    def __init__(self, stop: threading.Event, checks_left: int) -> None:
        self.stop = stop
        self.checks = 0
        self.checks_left = checks_left

    def check(self) -> bool:
        self.checks += 1
        if self.checks >= self.checks_left:
            self.stop.set()
        return True

    def wait_up(self) -> bool:
        return not self.stop.is_set()


def test_each_stop_is_handed_on_and_an_ended_stream_is_opened_again() -> None:
    """Every event reaches the handler; a stream that ends (or fails to open) has the engine
    checked and is opened again, until devd stops."""
    stop = threading.Event()
    engine = FakeEngine(stop, checks_left=3)
    seen: list[AnchorStopped] = []
    opened: list[int] = []

    def stops() -> Iterator[AnchorStopped]:
        opened.append(1)
        if len(opened) == 2:
            raise EngineUnavailable("no Docker engine answers")
        yield STOPPED

    watch = AnchorWatch(stops, seen.append, engine, stop)
    watch.run()
    assert seen == [STOPPED, STOPPED]
    assert engine.checks == 3
    assert watch.streams == 3


def test_retries_back_off_and_devd_stopping_ends_the_wait() -> None:
    """A stream that ends at once is not reopened in a hot loop: the waits double from
    FIRST_RETRY_S; setting stop during a wait ends the watch at once."""
    stop = threading.Event()
    times = iter(float(t) for t in range(100))
    waits: list[float] = []

    class Stop(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(float(timeout or 0))
            return len(waits) >= 3

        def is_set(self) -> bool:
            return False

    engine = FakeEngine(stop, checks_left=100)
    watch = AnchorWatch(lambda: iter(()), lambda s: None, engine, Stop(), lambda: next(times))
    watch.run()
    assert waits == [FIRST_RETRY_S, FIRST_RETRY_S * 2, FIRST_RETRY_S * 4]
