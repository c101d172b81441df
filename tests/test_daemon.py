"""The daemon's pieces that can be pinned without an engine: its own bookkeeping and the early
stop (its loop is tested end to end in test_up.py, test_live.py and test_bad_input.py against
the real engine)."""

from __future__ import annotations

import io
import threading
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from devd import config
from devd.daemon.daemon import Daemon
from devd.daemon.early_retire import EarlyRetire
from devd.daemon.runtime import ServiceRuntime
from devd.engine.container_spec import ContainerInfo
from devd.errors import ContainerGone
from devd.output import Output
from tests.engine_view import EngineView

RUNNING = ContainerInfo("c1", "proj-app", "sha256:old", "app", "running", None, "2026-01-01")


class FakeEngine:
    def __init__(self, fail_start: bool = False) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail_start = fail_start

    def stop_container(self, container_id: str, timeout: float) -> None:
        self.calls.append(("stop", container_id))

    def start_container(self, container_id: str) -> ContainerInfo:
        self.calls.append(("start", container_id))
        if self.fail_start:
            raise ContainerGone("cannot start container c1: it is gone")
        return replace(RUNNING, status="running")


def _setup(
    container: ContainerInfo | None, engine: FakeEngine
) -> tuple[EarlyRetire, ServiceRuntime, Any]:
    events: list[tuple[str, str]] = []
    followed: list[str] = []
    daemon = SimpleNamespace(
        engine=EngineView(engine),
        stop=threading.Event(),
        out=SimpleNamespace(
            debug=lambda event, **_: events.append(("debug", event)),
            error=lambda event, **_: events.append(("error", event)),
        ),
        _follow_once=lambda runtime, info, again=False: followed.append(info.id),
        events=events,
        followed=followed,
    )
    config = SimpleNamespace(name="app", stop_timeout=3.0, context=Path("."))
    runtime = ServiceRuntime(cast(Any, config), cast(Any, None), container=container)
    return EarlyRetire(cast(Daemon, daemon), runtime), runtime, daemon


def test_label_steps_stop_the_old_container_alongside() -> None:
    """When the build reaches its label steps the running container is stopped (in the
    background) and marked as devd's own doing, so its end is not reported as a crash."""
    engine = FakeEngine()
    retire, runtime, _ = _setup(RUNNING, engine)
    retire.start()
    retire.join()
    assert engine.calls == [("stop", "c1")]
    assert "c1" in runtime.retiring


def test_a_build_failing_after_the_early_stop_starts_the_old_container_again() -> None:
    """undo(): the old container serves again and its output is followed again."""
    engine = FakeEngine()
    retire, runtime, daemon = _setup(RUNNING, engine)
    retire.start()
    retire.undo()
    assert engine.calls == [("stop", "c1"), ("start", "c1")]
    assert "c1" not in runtime.retiring
    assert daemon.followed == ["c1"]


def test_undo_that_cannot_start_the_old_container_says_so() -> None:
    """A container gone meanwhile: reported as an error, no exception out of the worker."""
    retire, _, daemon = _setup(RUNNING, FakeEngine(fail_start=True))
    retire.start()
    retire.undo()
    assert ("error", "could not start the previous container again") in daemon.events


def test_nothing_is_stopped_without_a_running_container_or_after_devd_stops() -> None:
    """No container, an exited one, or devd shutting down: the hook does nothing, and undo
    has nothing to undo."""
    for container in (None, replace(RUNNING, status="exited")):
        engine = FakeEngine()
        retire, _, _ = _setup(container, engine)
        retire.start()
        retire.undo()
        assert engine.calls == []
    engine = FakeEngine()
    retire, _, daemon = _setup(RUNNING, engine)
    daemon.stop.set()
    retire.start()
    assert engine.calls == []


@pytest.fixture
def daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Daemon:
    """A Daemon for a one-service project in a temp dir (nothing started, no engine)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    project = config.load(tmp_path, environ={})
    engine: Any = SimpleNamespace(transport=SimpleNamespace(unreachable=lambda: None))
    return Daemon(project, engine, Output(True, ["app"], io.StringIO()))


def test_spawned_threads_that_ended_are_forgotten(daemon: Daemon) -> None:
    """A log follower is spawned for every container devd starts: the daemon keeps only the
    threads still alive, so thousands of rebuilds do not pile up dead Thread objects."""
    release = threading.Event()
    daemon._spawn("worker-app", release.wait)
    for number in range(200):
        daemon._spawn(f"logs-app-{number}", lambda: None)
    for thread in list(daemon._threads):
        if thread.name.startswith("logs-"):
            thread.join(timeout=5)
    daemon._spawn("logs-app-last", release.wait)
    assert [thread.name for thread in daemon._threads] == ["worker-app", "logs-app-last"]
    release.set()


class ReplacingEngine:
    """Just enough engine for Daemon._replace: every replace starts container c<N>."""

    def __init__(self) -> None:
        self.started = 0

    def containers(self, project: str, service: str | None = None) -> list[ContainerInfo]:
        return []

    def replace_container(self, spec: Any) -> ContainerInfo:
        self.started += 1
        return ContainerInfo(f"c{self.started}", spec.name, spec.image, "app", "running", None, "")


def test_replacing_an_exited_container_leaves_nothing_marked_as_retiring(daemon: Daemon) -> None:
    """A container devd replaces while it runs is marked as retiring until its log follower
    sees it end; one that exited by itself has no follower left, so marking it would keep
    its id forever (one per crash)."""
    daemon.engine = EngineView(ReplacingEngine())  # type: ignore[assignment]
    daemon.follow = False
    runtime = daemon.prepare("app")
    daemon._replace(runtime, "sha256:1")
    assert runtime.container is not None
    runtime.container = replace(runtime.container, status="exited")
    daemon._replace(runtime, "sha256:2")
    assert runtime.retiring == set()
    daemon._replace(runtime, "sha256:3")  # c2 runs: its follower will clear the mark
    assert runtime.retiring == {"c2"}
