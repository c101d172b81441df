"""The daemon loop's own bookkeeping (devd/daemon.py), without an engine."""

from __future__ import annotations

import io
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from devd import config
from devd.daemon import Daemon
from devd.engine import ContainerInfo
from devd.output import Output


@pytest.fixture
def daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Daemon:
    """A Daemon for a one-service project in a temp dir (nothing started, no engine)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    project = config.load(tmp_path, environ={})
    engine: Any = object()
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
    daemon.engine = ReplacingEngine()  # type: ignore[assignment]
    daemon.follow = False
    runtime = daemon.prepare("app")
    daemon._replace(runtime, "sha256:1")
    assert runtime.container is not None
    runtime.container = replace(runtime.container, status="exited")
    daemon._replace(runtime, "sha256:2")
    assert runtime.retiring == set()
    daemon._replace(runtime, "sha256:3")  # c2 runs: its follower will clear the mark
    assert runtime.retiring == {"c2"}
