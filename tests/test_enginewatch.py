"""devd.enginewatch: noticing the engine has gone, probing until it is back, saying both once."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

from devd.daemon.enginewatch import (
    FROZEN,
    LOST,
    NOT_ANSWERING,
    PROBE_CAP_S,
    EngineWatch,
    backoff,
    not_answering,
    ping_due,
)
from devd.errors import EngineUnavailable
from devd.log import sentences


class FakeEngine:
    """An engine that answers or not, as the test says; counts the pings."""

    def __init__(self) -> None:
        self.answers = True
        self.pings = 0
        self.why = "Connection refused"  # what a ping says while it does not answer

    def unreachable(self) -> str | None:
        self.pings += 1
        return None if self.answers else self.why


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
    engine: FakeEngine, out: Recorder, on_back: Any = None, **timing: float
) -> tuple[EngineWatch, threading.Event]:
    stop = threading.Event()
    watch = EngineWatch(
        engine.unreachable,
        out,
        "unix:///x.sock (from DOCKER_HOST)",
        on_back or (lambda: None),
        stop,
        **timing,
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


def test_ping_is_due_after_the_threshold_then_spaced_by_the_reping_period() -> None:
    """The watchdog pings ``after`` seconds into the oldest work in flight, never sooner than
    ``every`` seconds after its last ping (quick work never pings; long work pings rarely)."""
    never = float("-inf")
    assert ping_due(oldest=10.0, last_ping=never, after=1.0, every=2.0) == 11.0
    assert ping_due(oldest=10.0, last_ping=10.5, after=1.0, every=2.0) == 12.5
    assert ping_due(oldest=10.0, last_ping=30.0, after=1.0, every=2.0) == 32.0


def test_not_answering_reads_as_the_rest_of_a_sentence_about_the_engine() -> None:
    """The reason for a frozen engine says it accepts but has not answered, for how long."""
    assert not_answering(3.0021) == f"{NOT_ANSWERING} for 3 s"
    assert not_answering(2.96) == "accepts connections but has not answered for 3 s"
    assert not_answering(3.46) == "accepts connections but has not answered for 3.5 s"


def test_frozen_engine_reads_as_one_sentence_naming_the_socket() -> None:
    """On a terminal the frozen-engine event is one sentence naming the engine's socket."""
    event = {"event": FROZEN, "engine": "unix:///var/run/docker.sock", "reason": not_answering(3)}
    assert sentences(None, "error", event)["event"] == (
        "the engine at unix:///var/run/docker.sock accepts connections but has not answered "
        "for 3 s; devd holds work and carries on when it answers"
    )


def test_work_in_flight_on_a_frozen_engine_is_reported_once_and_never_cut() -> None:
    """Work in flight past the threshold has the watchdog ping; a frozen engine's ping fails,
    so the outage is said once (FROZEN, naming the engine), work waits for it, and the work
    in flight runs on untouched; when the engine answers, the watch says it is back."""
    engine, out = FakeEngine(), Recorder()
    watch, stop = make_watch(engine, out, answer_within=0.05, reping=0.1)
    engine.answers, engine.why = False, not_answering(3)
    finished = threading.Event()

    def work() -> None:
        with watch.in_flight():
            wait_until(lambda: watch.down, 5)
            time.sleep(0.3)  # still in flight while the engine is gone: one report only
        finished.set()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(timeout=5)
    assert finished.is_set()
    assert [(f["engine"], f["reason"]) for f in out.named(FROZEN)] == [
        ("unix:///x.sock (from DOCKER_HOST)", not_answering(3))
    ]
    assert out.named(LOST) == []
    engine.answers = True
    assert wait_until(lambda: not watch.down, 5)
    assert watch.wait_up()
    assert len(out.named("engine back")) == 1
    assert watch.outages == 1
    stop.set()
    watch.wake()


def test_quick_work_never_pings_and_an_idle_watchdog_sleeps() -> None:
    """Work that ends before the threshold costs no ping, and with nothing in flight the
    watchdog does not wake (no polling while idle)."""
    engine, out = FakeEngine(), Recorder()
    watch, stop = make_watch(engine, out, answer_within=0.2, reping=0.05)
    for _ in range(20):
        with watch.in_flight():
            pass
    time.sleep(0.5)
    assert engine.pings == 0
    assert watch.pings == 0
    stop.set()
    watch.wake()


def test_long_work_on_an_answering_engine_pings_now_and_then_and_says_nothing() -> None:
    """A long build on a healthy engine: the watchdog pings every reping period while it
    runs (not in a tight loop), reports nothing, and stops pinging when the work ends."""
    engine, out = FakeEngine(), Recorder()
    watch, stop = make_watch(engine, out, answer_within=0.05, reping=0.2)
    with watch.in_flight():
        time.sleep(1.0)
    pings = engine.pings
    assert 3 <= pings <= 6, pings
    time.sleep(0.5)
    assert engine.pings == pings
    assert out.events == []
    stop.set()
    watch.wake()


def test_stopping_devd_ends_the_watchdog() -> None:
    """Ctrl-C while work is in flight: the watchdog thread ends and pings no more."""
    engine, out = FakeEngine(), Recorder()
    watch, stop = make_watch(engine, out, answer_within=0.05, reping=0.05)
    with watch.in_flight():
        wait_until(lambda: engine.pings > 0, 5)
        stop.set()
        watch.wake()
        # This watch's own thread: other tests' watches may still have theirs.
        dogs = [dog for dog in (watch._watchdog,) if dog is not None]
        assert dogs
        for dog in dogs:
            dog.join(timeout=2)
        pings = engine.pings
        time.sleep(0.3)
    assert engine.pings == pings
    assert not any(t.is_alive() for t in dogs)


def wait_until(condition: Any, timeout: float) -> bool:
    """Whether ``condition()`` came true within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
