"""The daemon loop's own bookkeeping (devd/daemon.py), without an engine."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import pytest

from devd import config
from devd.daemon import Daemon
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
