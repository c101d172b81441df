"""The sweeper (devd.sweeper): superseded images removed on one background thread, each
service's newest request only, never while the service builds; and the daemon using it, on a
scripted engine whose removals take as long as a test wants (tests/test_daemon_outage.py's)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devd.core.build_result import BuildResult
from devd.daemon import supervisor as supervisor_module
from devd.daemon.sweeper import Sweeper
from tests.fakeengine import FakeBuilds, FakeEngine, FakeImages, FakeUp, Recorder, project
from tests.updriver import wait_for


class Removals:
    """A scripted remover: each call is recorded as (service, image id, outcome) and, while
    ``hold`` is set, waits for ``release`` asking ``proceed`` as the engine adapter does."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.threads: list[str] = []
        self.hold = threading.Event()
        self.release = threading.Event()
        self.started = threading.Event()

    def __call__(self, service: str, image_id: str, proceed: Callable[[], bool]) -> None:
        self.threads.append(threading.current_thread().name)
        self.started.set()
        while self.hold.is_set() and not self.release.wait(0.01):
            if not proceed():
                self.calls.append((service, image_id, "stopped"))
                return
        self.calls.append((service, image_id, "done"))


class Builds:
    """The services' builds as the sweeper sees them: how many started, which run now."""

    def __init__(self, *running: str) -> None:
        self.started: dict[str, int] = {}
        self.running = set(running)

    def start(self, service: str) -> None:
        self.started[service] = self.started.get(service, 0) + 1
        self.running.add(service)

    def end(self, service: str) -> None:
        self.running.discard(service)

    def __call__(self, service: str) -> int | None:
        return None if service in self.running else self.started.get(service, 0)


@pytest.fixture
def sweep() -> Iterator[tuple[Sweeper, Removals, Builds]]:
    """A started sweeper over a scripted remover and scripted builds."""
    removals, builds = Removals(), Builds()
    sweeper = Sweeper(removals, builds)
    sweeper.start()
    yield sweeper, removals, builds
    removals.release.set()
    sweeper.close()
    assert sweeper.join(5)


def test_before_start_a_request_is_done_at_once_in_the_callers_thread() -> None:
    """The one-shot commands run no sweeper thread: the removal is done before request()
    returns, in the caller's thread."""
    removals = Removals()
    Sweeper(removals, Builds()).request("app", "sha256:2")
    assert removals.calls == [("app", "sha256:2", "done")]
    assert removals.threads == [threading.current_thread().name]


def test_requests_run_in_order_on_the_thread_and_only_the_newest_of_a_service(
    sweep: tuple[Sweeper, Removals, Builds],
) -> None:
    """While a removal runs, a service's later requests fold into its newest (its image
    supersedes the others'), keeping the service's place; one removal at a time."""
    sweeper, removals, _ = sweep
    removals.hold.set()
    sweeper.request("app", "a1")
    removals.started.wait(5)
    for service, image in [("db", "d1"), ("app", "a2"), ("app", "a3")]:
        sweeper.request(service, image)
    assert sweeper.pending == {"db": "d1", "app": "a3"}
    removals.release.set()
    wait_for(lambda: len(removals.calls) == 3, 5, "three removals")
    assert removals.calls == [("app", "a1", "done"), ("db", "d1", "done"), ("app", "a3", "done")]
    assert set(removals.threads) == {"sweeper"}


def test_a_removal_waits_while_its_service_builds(
    sweep: tuple[Sweeper, Removals, Builds],
) -> None:
    """A service building: its removal waits (another service's goes ahead) and runs once
    the build is over (wake)."""
    sweeper, removals, builds = sweep
    builds.start("app")
    sweeper.request("app", "a1")
    sweeper.request("db", "d1")
    wait_for(lambda: removals.calls, 5, "db's removal")
    time.sleep(0.1)
    assert removals.calls == [("db", "d1", "done")]
    builds.end("app")
    sweeper.wake()
    wait_for(lambda: len(removals.calls) == 2, 5, "app's removal")
    assert removals.calls[1] == ("app", "a1", "done")


def test_a_build_starting_stops_the_removal_which_runs_again_after_it(
    sweep: tuple[Sweeper, Removals, Builds],
) -> None:
    """A build of the service starting while its removal runs: the removal stops (a build's
    image is untagged for a moment), and is done again once the build is over."""
    sweeper, removals, builds = sweep
    removals.hold.set()
    sweeper.request("app", "a1")
    removals.started.wait(5)
    builds.start("app")
    wait_for(lambda: removals.calls, 5, "the removal stopped")
    assert removals.calls == [("app", "a1", "stopped")]
    assert sweeper.pending == {"app": "a1"}
    removals.release.set()
    builds.end("app")
    sweeper.wake()
    wait_for(lambda: len(removals.calls) == 2, 5, "the removal again")
    assert removals.calls[1] == ("app", "a1", "done")


def test_a_build_that_started_and_ended_meanwhile_stops_the_removal_too(
    sweep: tuple[Sweeper, Removals, Builds],
) -> None:
    """A whole build between the removal's listing and its next image (its image listed
    while untagged): the removal stops all the same, and runs again after it."""
    sweeper, removals, builds = sweep
    removals.hold.set()
    sweeper.request("app", "a1")
    removals.started.wait(5)
    builds.start("app")
    builds.end("app")
    wait_for(lambda: removals.calls, 5, "the removal stopped")
    assert removals.calls[0] == ("app", "a1", "stopped")
    removals.release.set()
    wait_for(lambda: len(removals.calls) == 2, 5, "the removal again")
    assert removals.calls[1] == ("app", "a1", "done")


def test_close_runs_what_it_can_drops_the_rest_and_ends() -> None:
    """Shutdown: a pending removal runs, one whose service builds is dropped, requests after
    close are dropped, and the thread ends."""
    removals = Removals()
    sweeper = Sweeper(removals, Builds("db"))
    removals.hold.set()
    sweeper.start()
    sweeper.request("app", "a1")
    removals.started.wait(5)
    sweeper.request("app", "a2")
    sweeper.request("db", "d1")
    sweeper.close()
    sweeper.request("app", "a3")
    removals.release.set()
    assert sweeper.join(5)
    assert removals.calls == [("app", "a1", "done"), ("app", "a2", "done")]
    assert sweeper.pending == {}


def test_join_gives_up_on_a_removal_that_hangs() -> None:
    """A removal that does not end (an engine that stopped answering) does not hold up
    shutdown: join returns after its timeout, saying the thread still runs."""
    removals = Removals()
    sweeper = Sweeper(removals, Builds())
    removals.hold.set()
    sweeper.start()
    sweeper.request("app", "a1")
    removals.started.wait(5)
    sweeper.close()
    started = time.monotonic()
    assert not sweeper.join(0.2)
    assert time.monotonic() - started < 1
    removals.release.set()
    assert sweeper.join(5)


class SlowEngine(FakeEngine):
    """The scripted engine with builds that take ``build_s`` and removals of superseded
    images that, while ``hold`` is set, last until ``release`` (asking ``proceed`` as the
    real adapter does between images)."""

    def __init__(self) -> None:
        super().__init__()
        self.build_s = 0.0
        self.removals = Removals()
        self.builds = SlowBuilds(self)
        self.images = SlowImages(self)


class SlowBuilds(FakeBuilds):
    def build(self, context: Any, **options: Any) -> BuildResult:
        assert isinstance(self.world, SlowEngine)
        time.sleep(self.world.build_s)
        return super().build(context, **options)


class SlowImages(FakeImages):
    def remove_superseded(
        self, project: str, service: str, current: str, proceed: Callable[[], bool] = bool
    ) -> list[str]:
        assert isinstance(self.world, SlowEngine)
        self.world.removals(service, current, proceed)
        return []


@pytest.fixture
def up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeUp, SlowEngine]]:
    """devd up (its sweeper started) on a one-service project (code saves sync then
    restart), its start-up build done on the slow engine; stopped at the end."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    engine = SlowEngine()
    engine.removals.hold.set()
    running = FakeUp(
        project(tmp_path, '[services.app]\ncode_action = "sync-restart"\n'), engine, Recorder()
    )
    wait_for(lambda: running.out.named("running"), 10, "the start-up container")
    yield running, engine
    engine.removals.release.set()
    if running.thread.is_alive():
        running.stop()
    assert running.supervisor.sweeper.join(5)


def test_a_save_is_not_held_up_by_the_removal_of_superseded_images(
    up: tuple[FakeUp, SlowEngine],
) -> None:
    """The start-up build's removal of superseded images still running: a code save is
    synced and the container restarted meanwhile (the worker does not wait for it)."""
    running, engine = up
    engine.removals.started.wait(5)
    running.save("app/page.html")
    wait_for(lambda: running.out.named("synced"), 5, "the save synced")
    assert engine.removals.calls == []  # the removal is still running
    engine.removals.release.set()
    wait_for(lambda: engine.removals.calls, 5, "the removal done")
    assert engine.removals.calls == [("app", "sha256:1", "done")]
    assert set(engine.removals.threads) == {"sweeper"}


def test_a_rebuild_stops_the_removal_and_its_own_follows(up: tuple[FakeUp, SlowEngine]) -> None:
    """A Dockerfile save while the removal runs: the build goes ahead at once, the removal
    stops as it starts, and the rebuilt image's removal (which supersedes it) follows."""
    running, engine = up
    engine.removals.started.wait(5)
    engine.build_s = 0.2
    running.save("Dockerfile")
    wait_for(lambda: len(running.out.named("running")) == 2, 5, "the rebuilt container")
    assert engine.removals.calls[0] == ("app", "sha256:1", "stopped")
    engine.removals.release.set()
    container = running.snapshot().container
    new = container.image_id if container else None
    wait_for(lambda: engine.removals.calls[-1] == ("app", new, "done"), 5, "its removal")


def test_shutdown_does_not_wait_long_for_a_removal(
    up: tuple[FakeUp, SlowEngine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while a removal hangs: shutdown stops the container and ends within the
    sweeper's grace period."""
    running, engine = up
    engine.removals.started.wait(5)
    monkeypatch.setattr(supervisor_module, "SWEEP_WAIT_S", 0.3)
    started = time.monotonic()
    running.supervisor.request_stop()
    running.thread.join(5)
    assert time.monotonic() - started < 3
    assert running.out.named("stopped")
    assert engine.removals.calls == []
    assert "stop" in engine.calls
