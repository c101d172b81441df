"""devd.daemon.controller: the races a service's controller closes, driven through the public
entry points (the supervisor's batches and configuration reload, the controllers' snapshots)
against the scripted engine (tests/fakeengine.py), which holds an operation at the very
moment a test needs. Each of these failed with the daemon of one shared ``self``: a global
replace lock, and ``retiring``/``container`` written by several threads."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from devd.daemon.follow import EXITED, REMOVED
from devd.errors import BuildFailed
from tests.fakeengine import END, FakeEngine, FakeUp, Recorder, project
from tests.updriver import wait_for


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def test_removing_a_service_does_not_stall_another_services_rebuild(tmp_path: Path) -> None:
    """devd.toml saved without ``old`` while ``web`` rebuilds: stopping old's container
    takes its stop_timeout (held here), and web's new container runs meanwhile, not after."""
    toml = '[services.web]\n[services.old]\ndockerfile = "old.Dockerfile"\nstop_timeout = 30\n'
    engine, out = FakeEngine(), Recorder()
    up = FakeUp(project(tmp_path, toml), engine, out)
    try:
        wait_for(lambda: len(out.named("running")) == 2, 10, "both started")
        old = next(c.id for c in engine.live.values() if c.service == "old")
        stopping, released = threading.Event(), threading.Event()

        def stop(container_id: str) -> None:
            if container_id == old:
                stopping.set()
                released.wait(10)  # old's stop_timeout running

        building, build = threading.Event(), threading.Event()

        def build_done(options: dict[str, Any]) -> None:
            if "-web:" in options["tag"]:
                building.set()
                build.wait(10)

        engine.hooks["stop"] = stop
        engine.hooks["build done"] = build_done
        up.save("Dockerfile")
        assert building.wait(5)
        (up.root / "devd.toml").write_text("[services.web]\n")
        up.save("devd.toml")
        assert stopping.wait(5)
        build.set()
        wait_for(lambda: len(out.named("running")) == 3, 2, "web's new container")
        assert not out.named("service removed")  # old's stop is still running
        released.set()
        wait_for(lambda: out.named("service removed"), 5, "old removed")
        assert [c.service for c in engine.live.values()] == ["web"]
    finally:
        up.stop()


def test_an_exit_seen_while_a_replace_is_in_flight_is_the_replaces_doing(
    tmp_path: Path,
) -> None:
    """The app crashes during a rebuild; its log thread asks the engine about the exit while
    the replace that follows is removing the container. That is devd's own replace, not a
    removal by hand: no line says the container was removed or exited, and the service ends
    on its new container, followed once."""
    engine, out = FakeEngine(), Recorder()
    up = FakeUp(project(tmp_path, "[services.app]\n"), engine, out, follow=True)
    try:
        wait_for(lambda: out.named("running") and engine.streams, 10, "started and followed")
        first = next(iter(engine.live))
        replacing, inspected = threading.Event(), threading.Event()

        def crash(_: object) -> None:
            engine.live[first] = replace(engine.live[first], status="exited", exit_code=1)
            engine.end_streams(first)
            time.sleep(0.1)  # the log thread sees the end before the build is done

        def replace_started(_: object) -> None:
            engine.live[first] = replace(engine.live[first], status="removing")
            replacing.set()
            inspected.wait(2)  # the log thread inspects the old container meanwhile

        def wait(_: object) -> None:
            replacing.wait(5)  # the exit code comes once the replace has begun

        engine.hooks["build"] = crash
        engine.hooks["wait"] = wait
        engine.hooks["replace"] = replace_started
        engine.hooks["container"] = lambda _: inspected.set() if replacing.is_set() else None
        up.save("Dockerfile")
        wait_for(lambda: len(out.named("running")) == 2, 10, "the new container")
        time.sleep(0.3)
        assert not out.named(REMOVED), out.events
        assert not out.named(EXITED), out.events
        snapshot = up.snapshot()
        assert snapshot.container is not None
        assert snapshot.container.id != first
        assert snapshot.container.status == "running"
        assert snapshot.followers == 1
    finally:
        up.stop()


def test_a_sync_landing_while_an_early_stop_is_in_flight(tmp_path: Path) -> None:
    """A code save (sync) lands while a rebuild's early stop is stopping the old container;
    the build then fails, so the old container is started again and followed anew, and the
    save is rebuilt in a follow-up. The engine ends the stopped run's log stream late, after
    the container runs again: that end is not the app exiting, and nothing says so."""
    engine, out = FakeEngine(), Recorder()
    up = FakeUp(project(tmp_path, '[services.app]\ncode_action = "sync"\n'), engine, out, True)
    try:
        wait_for(lambda: out.named("running") and engine.streams, 10, "started and followed")
        first = next(iter(engine.live))
        stopped_run = engine.streams[first][0]
        stopping, stop, fail, second = (threading.Event() for _ in range(4))
        builds: list[int] = []

        def stop_hook(_: object) -> None:
            stopping.set()
            stop.wait(5)  # the stop_timeout running

        def build_hook(_: object) -> None:
            builds.append(1)
            if len(builds) == 2:
                second.wait(5)

        def build_done(_: object) -> None:
            if len(builds) == 1:
                fail.wait(5)
                raise BuildFailed("build failed: RUN false")

        engine.hooks.update({"stop": stop_hook, "build": build_hook, "build done": build_done})
        ending = engine.end_streams
        engine.end_streams = lambda container_id: None  # type: ignore[method-assign]
        up.save("Dockerfile")
        assert stopping.wait(5)
        up.save("app/page.html")  # the sync lands while the early stop is in flight
        time.sleep(0.2)
        stop.set()
        fail.set()
        wait_for(lambda: len(engine.streams.get(first, [])) == 2, 5, "the old one followed again")
        stopped_run.put(END)  # the engine ends the stopped run's stream, late
        time.sleep(0.5)
        engine.end_streams = ending  # type: ignore[method-assign]
        second.set()
        wait_for(lambda: len(out.named("running")) == 2, 10, "the follow-up rebuild")
        time.sleep(0.3)
        assert not out.named(EXITED), out.events
        assert not out.named(REMOVED), out.events
        assert out.named("running")[-1]["trigger"] == "Dockerfile (dockerfile) +1 more"
        snapshot = up.snapshot()
        assert snapshot.container is not None
        assert snapshot.container.id != first
        assert snapshot.followers == 1
    finally:
        up.stop()
