"""devd.enginewatch: noticing the engine has gone, probing until it is back, saying both once."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

from devd.enginewatch import PROBE_CAP_S, EngineWatch, backoff
from devd.errors import EngineUnavailable

LOST = "engine unavailable; devd keeps watching and carries on when it is back"


class FakeEngine:
    """An engine that answers or not, as the test says; counts the pings."""

    def __init__(self) -> None:
        self.answers = True
        self.pings = 0

    def unreachable(self) -> str | None:
        self.pings += 1
        return None if self.answers else "Connection refused"


class Recorder:
    """Collects what the watch reports, as (level, event, fields)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def info(self, event: str, **fields: Any) -> None:
        with self._lock:
            self.events.append(("info", event, fields))

    def error(self, event: str, **fields: Any) -> None:
        with self._lock:
            self.events.append(("error", event, fields))

    def named(self, event: str) -> list[dict[str, Any]]:
        with self._lock:
            return [fields for _, name, fields in self.events if name == event]


def make_watch(
    engine: FakeEngine, out: Recorder, on_back: Any = None
) -> tuple[EngineWatch, threading.Event]:
    stop = threading.Event()
    watch = EngineWatch(
        engine.unreachable,
        out,
        "unix:///x.sock (from DOCKER_HOST)",
        on_back or (lambda: None),
        stop,
    )
    return watch, stop


def waiter(watch: EngineWatch) -> tuple[threading.Thread, list[bool]]:
    """A thread blocked in wait_up; its result lands in the list."""
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(watch.wait_up()), daemon=True)
    thread.start()
    return thread, result


def test_backoff_doubles_from_50_ms_and_stops_at_the_cap() -> None:
    """Probes start fast (a restart is noticed quickly) and never run hotter than ~1 s apart
    once the engine stays away."""
    delays = list(itertools.islice(backoff(), 8))
    assert delays[:5] == [0.05, 0.1, 0.2, 0.4, 0.8]
    assert delays[5:] == [PROBE_CAP_S] * 3


def test_an_answering_engine_is_reported_nowhere() -> None:
    """check() on an engine that answers: True, one ping, nothing said, nobody waits."""
    engine, out = FakeEngine(), Recorder()
    watch, _ = make_watch(engine, out)
    assert watch.check()
    assert engine.pings == 1
    assert out.events == []
    assert watch.wait_up()


def test_outage_is_reported_once_and_waiters_go_on_when_it_is_back() -> None:
    """However many ask, the outage is said once, naming the engine; wait_up blocks until the
    engine answers, then the return is said with how long it was gone."""
    engine, out = FakeEngine(), Recorder()
    back_calls: list[bool] = []
    watch, _ = make_watch(engine, out, on_back=lambda: back_calls.append(watch.down))
    engine.answers = False
    assert not watch.check()
    assert not watch.check()
    assert watch.down
    thread, result = waiter(watch)
    time.sleep(0.3)
    assert result == []  # still waiting
    engine.answers = True
    thread.join(timeout=5)
    assert result == [True]
    assert [fields["engine"] for fields in out.named(LOST)] == ["unix:///x.sock (from DOCKER_HOST)"]
    assert out.named(LOST)[0]["reason"] == "Connection refused"
    assert len(out.named("engine back")) == 1
    assert out.named("engine back")[0]["down_s"] >= 0.3
    assert back_calls == [True]  # services put right before the waiters went on
    assert not watch.down
    assert watch.outages == 1


def test_engine_gone_again_while_putting_things_right_keeps_waiting() -> None:
    """on_back failing with EngineUnavailable (the engine went again) is said, and the watch
    keeps probing; waiters go on only after on_back succeeded."""
    engine, out = FakeEngine(), Recorder()
    attempts: list[int] = []

    def on_back() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise EngineUnavailable("no Docker engine answers at x: Connection refused")

    watch, _ = make_watch(engine, out, on_back)
    engine.answers = False
    watch.check()
    thread, result = waiter(watch)
    engine.answers = True
    thread.join(timeout=10)
    assert result == [True]
    assert len(attempts) == 2
    assert len(out.named("engine unavailable again")) == 1


def test_stopping_devd_ends_the_waits_and_the_probing() -> None:
    """Ctrl-C during an outage: wait_up returns False at once and the probe thread ends."""
    engine, out = FakeEngine(), Recorder()
    watch, stop = make_watch(engine, out)
    engine.answers = False
    watch.check()
    thread, result = waiter(watch)
    stop.set()
    watch.wake()
    thread.join(timeout=2)
    assert result == [False]
    pings = engine.pings
    time.sleep(1.2)
    assert engine.pings == pings  # no probing after stop
    assert out.named("engine back") == []
