"""devd up when the engine goes away, against a scripted engine: what a service's controller
does if the engine vanishes during a sync, a restart or a replace, and how the services are
put right when it is back. Driven through the public entry points only: the supervisor's
batches, status, engine watch and stop; the controllers' snapshots.

The real-engine version (dockerd stopped, killed mid-build) is tests/test_engine_faults.py;
here a fake engine fails exactly the operation a test picks, which a real dockerd cannot be
timed to do.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.fakeengine import FakeEngine, FakeUp, Recorder, project
from tests.updriver import wait_for

LOST = "engine unavailable; devd keeps watching and carries on when it is back"
SYNC_RESTART = '[services.app]\ncode_action = "sync-restart"\n'


def start(tmp_path: Path, devd_toml: str, follow: bool = False) -> FakeUp:
    """devd up on a project (code saves sync then restart), its start-up container running."""
    up = FakeUp(project(tmp_path, devd_toml), FakeEngine(), Recorder(), follow=follow)
    wait_for(lambda: up.out.named("running") or up.error, 10, "the start-up container")
    return up


@pytest.fixture
def up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeUp]:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    running = start(tmp_path, SYNC_RESTART)
    yield running
    running.stop()


def recovers(engine: FakeEngine, out: Recorder, cause: Callable[[], None]) -> None:
    """``cause`` takes the engine down: the outage is said once with no "failed" line;
    once the engine is back the service ends with exactly one running container."""
    cause()
    wait_for(lambda: out.named(LOST), 10, "the outage reported")
    time.sleep(0.2)
    assert len(out.named(LOST)) == 1
    assert not out.named("failed"), out.events
    engine.restart_engine()
    wait_for(lambda: out.named("engine back"), 10, "the engine back")
    wait_for(lambda: len(out.named("running")) >= 2, 10, "a container again")
    assert len(engine.live) == 1
    assert len(engine.running()) == 1


@pytest.mark.parametrize("operation", ["sync", "restart"])
def test_engine_gone_during_a_sync_or_restart_is_waited_out(up: FakeUp, operation: str) -> None:
    """The engine vanishing as devd copies a save in (or restarts the container after it):
    no failure is reported for the save; when the engine is back the container it stopped
    is replaced by a rebuild, which carries the save."""
    up.engine.fail_next = operation
    recovers(up.engine, up.out, lambda: up.save("app/page.html"))
    assert up.engine.calls[-2:] == ["build", "replace"]


def test_engine_gone_during_a_replace_is_waited_out(up: FakeUp) -> None:
    """The engine vanishing as devd replaces the container (after the build): the work is
    done again once it is back, and there is one container."""
    up.engine.fail_next = "replace"
    recovers(up.engine, up.out, lambda: up.save("Dockerfile"))


def test_saves_during_an_outage_wait_and_become_one_rebuild(up: FakeUp) -> None:
    """Saves made while the engine is known to be gone touch nothing and fail nothing; when it
    is back one rebuild covers them all."""
    engine = up.engine
    engine.up = False
    assert not up.supervisor.engine_watch.check()
    before = list(engine.calls)
    for _ in range(3):
        up.save("app/page.html")
        time.sleep(0.1)
    assert engine.calls == before
    recovers(engine, up.out, lambda: None)
    assert engine.calls[len(before) :].count("build") == 1


def test_a_container_that_had_exited_by_itself_stays_exited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An app that crashed before the outage is not started again because the engine came
    back: devd restarts nothing the developer has not saved for."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    up = start(tmp_path, SYNC_RESTART, follow=True)
    try:
        engine, out = up.engine, up.out
        container = up.snapshot().container
        assert container is not None
        wait_for(lambda: engine.streams.get(container.id), 5, "its output followed")
        engine.live[container.id] = replace(container, status="exited", exit_code=3)
        engine.end_streams(container.id)  # the app crashed
        wait_for(
            lambda: out.named("container exited; not restarting it (save a change to rebuild)"),
            5,
            "the exit said",
        )
        engine.up = False
        up.supervisor.engine_watch.check()
        engine.restart_engine()
        wait_for(lambda: out.named("engine back"), 10, "the engine back")
        time.sleep(0.3)
        assert engine.running() == []
        assert engine.calls.count("build") == 1  # the start-up build only
    finally:
        up.stop()


def test_status_during_an_outage_says_the_engine_does_not_answer(up: FakeUp) -> None:
    """The status key while the engine is gone prints a state, not a traceback."""
    up.engine.up = False
    up.supervisor.status()
    assert up.out.named("status")[-1]["state"] == "unknown: the engine does not answer"
    assert len(up.out.named(LOST)) == 1


def test_a_service_removed_during_an_outage_does_not_end_devd_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """devd.toml saved without a service while the engine is gone: the removal is said,
    the container could not be removed, and devd up goes on (no exception)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    up = start(tmp_path, '[services.app]\n[services.old]\ndockerfile = "old.Dockerfile"\n')
    try:
        wait_for(lambda: len(up.out.named("running")) == 2, 10, "both services running")
        up.engine.up = False
        (up.root / "devd.toml").write_text("[services.app]\n")
        up.save("devd.toml")
        wait_for(lambda: up.out.named("service removed"), 10, "the removal said")
        assert up.out.named("service removed") == [{"service": "old"}]
        assert len(up.out.named("could not remove the service's container")) == 1
        assert up.thread.is_alive()
        assert up.supervisor.controller("old") is None
    finally:
        up.stop()


def test_a_stray_container_of_the_service_is_cleared_when_the_engine_is_back(up: FakeUp) -> None:
    """A second container labelled as the service's (made by a replace the outage cut
    short) is found by its labels when the engine is back and the service is recreated:
    exactly one container, running, even though the known one still runs (live-restore)."""
    engine = up.engine
    container = up.snapshot().container
    assert container is not None
    engine.live["stray"] = replace(container, id="stray", status="created")
    engine.up = False
    up.supervisor.engine_watch.check()
    engine.up = True  # live-restore: the known container kept running
    wait_for(lambda: len(up.out.named("running")) >= 2, 10, "the service recreated")
    assert len(engine.live) == 1
    assert len(engine.running()) == 1
    assert "stray" not in engine.live


def test_ctrl_c_during_an_outage_ends_the_held_work_at_once(up: FakeUp) -> None:
    """devd stopping while work waits for the engine: the worker ends promptly, having
    touched nothing."""
    engine = up.engine
    engine.up = False
    up.supervisor.engine_watch.check()
    up.save("app/page.html")
    time.sleep(0.2)
    calls = list(engine.calls)
    started = time.monotonic()
    up.supervisor.request_stop()
    up.thread.join(5)
    assert not up.thread.is_alive()
    assert not [t for t in threading.enumerate() if t.name == "worker-app"]
    assert time.monotonic() - started < 2
    assert [c for c in engine.calls[len(calls) :] if c != "stop anchors"] == []


@pytest.mark.parametrize("still_followed", [True, False])
def test_a_running_container_is_followed_again_only_if_its_follower_ended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, still_followed: bool
) -> None:
    """The engine back with the container still running: after a restart (live-restore) its
    follower had ended and a new one starts; after a freeze (SIGSTOP) the follower's stream
    went on, and a second one would print every line twice and, once devd replaces the
    container, report it as exited by itself."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    up = start(tmp_path, SYNC_RESTART, follow=True)
    try:
        engine = up.engine
        container = up.snapshot().container
        assert container is not None
        wait_for(lambda: engine.streams.get(container.id), 5, "its output followed")
        engine.up = False
        up.supervisor.engine_watch.check()
        if not still_followed:  # the engine restarted: the stream ended, the app runs on
            engine.end_streams(container.id)
            wait_for(lambda: up.snapshot().followers == 0, 5, "the follower ended")
        engine.up = True
        wait_for(lambda: up.out.named("engine back"), 10, "the engine back")
        wait_for(lambda: up.snapshot().followers == 1, 5, "one follower")
        time.sleep(0.2)
        assert engine.follows == [container.id] * (1 if still_followed else 2)
        assert up.snapshot().followers == 1
        assert not up.out.named("container exited; not restarting it (save a change to rebuild)")
    finally:
        up.stop()
