"""devd.daemon when the engine goes away, against a scripted engine: what the worker does
if it vanishes during a sync, a restart or a replace, and how the services are put right when
it is back (tests/test_daemon.py pins the rest of the daemon without an engine).

The real-engine version (dockerd stopped, killed mid-build) is tests/test_engine_faults.py;
here a fake engine fails exactly the operation a test picks, which a real dockerd cannot be
timed to do.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from devd import config
from devd.core.plan import manual
from devd.daemon.daemon import Daemon
from devd.daemon.runtime import ServiceRuntime
from devd.engine.anchors import AnchorStopped
from devd.engine.engine import BuildResult, ContainerInfo, ContainerSpec
from devd.engine.files import SyncResult
from devd.errors import EngineUnavailable
from devd.watch import Batch
from tests.engine_view import EngineView
from tests.updriver import wait_for

LOST = "engine unavailable; devd keeps watching and carries on when it is back"
DOWN = EngineUnavailable("no Docker engine answers at unix:///x.sock: Connection refused")


class FakeEngine:
    """Answers like the engine adapter; ``fail_next`` names an operation that takes the
    engine down as it is called (the engine disappearing at that very moment)."""

    def __init__(self) -> None:
        self.up = True
        self.fail_next: str | None = None
        self.live: dict[str, ContainerInfo] = {}
        self.calls: list[str] = []
        self._ids = iter(range(1, 1000))
        self._lock = threading.Lock()
        self.anchor_stream_closed = threading.Event()

    def unreachable(self) -> str | None:
        return None if self.up else "Connection refused"

    def _call(self, name: str) -> None:
        with self._lock:
            if self.fail_next == name:
                self.fail_next, self.up = None, False
            if not self.up:
                raise DOWN
            self.calls.append(name)

    def anchor_stops(self, project: str) -> list[AnchorStopped]:
        """No anchor stops: the stream stays open until devd stops."""
        self.anchor_stream_closed.wait()
        return []

    def close_anchor_stops(self) -> None:
        self.anchor_stream_closed.set()

    def restart_engine(self) -> None:
        """The engine comes back; like dockerd without live-restore, its containers stopped."""
        with self._lock:
            for key, info in self.live.items():
                self.live[key] = replace(info, status="exited", exit_code=143)
            self.up = True

    def containers(self, project: str, service: str | None = None) -> list[ContainerInfo]:
        self._call("containers")
        return [c for c in self.live.values() if service in (None, c.service)]

    def container(self, container_id: str) -> ContainerInfo | None:
        self._call("container")
        return self.live.get(container_id)

    def builder(self, choice: str) -> str:
        return "classic"  # no base images to look up: the build itself is faked

    def build(self, context: Any, **options: Any) -> BuildResult:
        self._call("build")
        return BuildResult(f"sha256:{next(self._ids)}", ())

    def replace_container(self, spec: ContainerSpec) -> ContainerInfo:
        self._call("replace")
        self.live = {k: v for k, v in self.live.items() if v.service != spec.service}
        info = ContainerInfo(
            f"c{next(self._ids)}", spec.name, spec.image, spec.service, "running", None, "now"
        )
        self.live[info.id] = info
        return info

    def stopped_anchor(self, container_id: str) -> str | None:
        self._call("stopped_anchor")
        return None

    def put_files(self, container_id: str, files: Any) -> SyncResult:
        self._call("sync")
        return SyncResult(len(files))

    def restart_container(self, container_id: str, timeout: float) -> ContainerInfo:
        self._call("restart")
        return self.live[container_id]

    def stop_container(self, container_id: str, timeout: float) -> None:
        self._call("stop")

    def remove_container(self, container_id: str) -> None:
        self._call("remove")
        self.live.pop(container_id, None)

    def remove_anchors(self, project: str, service: str | None = None) -> list[str]:
        self._call("remove anchors")
        return []

    def stop_anchors(self, project: str) -> None:
        self._call("stop anchors")

    def remove_superseded_images(
        self, project: str, service: str, image_id: str, proceed: Callable[[], bool] = bool
    ) -> list[str]:
        return []  # image hygiene is pinned in test_generations.py and test_soak.py

    def remove_failed_build_images(self, image_ids: Any) -> None:
        pass

    def running(self) -> list[ContainerInfo]:
        return [c for c in self.live.values() if c.status == "running"]


class Recorder:
    """The daemon's output, kept as (event, fields)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def _add(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))

    info = error = warning = debug = _add

    def line(self, service: str, line: str, *, stream: str = "output") -> None:
        pass

    def named(self, event: str) -> list[dict[str, Any]]:
        return [fields for name, fields in list(self.events) if name == event]


@pytest.fixture
def setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Daemon, FakeEngine, Recorder, ServiceRuntime]]:
    """A daemon on a one-service project (code saves sync then restart), its worker running
    the start-up build on a fake engine; stopped at the end."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    root = tmp_path / "proj"
    (root / "app").mkdir(parents=True)
    (root / "app/page.html").write_text("v1\n")
    (root / "Dockerfile").write_text('FROM scratch\nCOPY app/ /app/\nCMD ["/app/run"]\n')
    (root / "devd.toml").write_text('[services.app]\ncode_action = "sync-restart"\n')
    engine, out = FakeEngine(), Recorder()
    daemon = Daemon(config.load(root, environ={}), EngineView(engine), out)  # type: ignore[arg-type]
    daemon.follow = False
    runtime = daemon.prepare("app")
    daemon._spawn("worker-app", partial(daemon._worker, runtime))
    daemon._submit(runtime, manual(False, time.monotonic(), label="start"))
    wait_for(lambda: out.named("running"), 10, "the start-up container")
    yield daemon, engine, out, runtime
    daemon.request_stop()
    for thread in daemon._threads:
        thread.join(timeout=10)


def save(daemon: Daemon, runtime: ServiceRuntime, path: str) -> None:
    """What the watcher hands the daemon for a save of ``path``."""
    daemon._plan(runtime, Batch(frozenset({path}), time.monotonic()))


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
def test_engine_gone_during_a_sync_or_restart_is_waited_out(
    setup: tuple[Daemon, FakeEngine, Recorder, ServiceRuntime], operation: str
) -> None:
    """The engine vanishing as devd copies a save in (or restarts the container after it):
    no failure is reported for the save; when the engine is back the container it stopped
    is replaced by a rebuild, which carries the save."""
    daemon, engine, out, runtime = setup
    engine.fail_next = operation
    recovers(engine, out, lambda: save(daemon, runtime, "app/page.html"))
    assert engine.calls[-2:] == ["build", "replace"]


def test_engine_gone_during_a_replace_is_waited_out(
    setup: tuple[Daemon, FakeEngine, Recorder, ServiceRuntime],
) -> None:
    """The engine vanishing as devd replaces the container (after the build): the work is
    done again once it is back, and there is one container."""
    daemon, engine, out, runtime = setup
    engine.fail_next = "replace"
    recovers(engine, out, lambda: save(daemon, runtime, "Dockerfile"))


def test_saves_during_an_outage_wait_and_become_one_rebuild(
    setup: tuple[Daemon, FakeEngine, Recorder, ServiceRuntime],
) -> None:
    """Saves made while the engine is known to be gone touch nothing and fail nothing; when it
    is back one rebuild covers them all."""
    daemon, engine, out, runtime = setup
    engine.up = False
    assert not daemon.engine_watch.check()
    before = list(engine.calls)
    for _ in range(3):
        save(daemon, runtime, "app/page.html")
        time.sleep(0.1)
    assert engine.calls == before
    recovers(engine, out, lambda: None)
    assert engine.calls[len(before) :].count("build") == 1


def test_a_container_that_had_exited_by_itself_stays_exited(
    setup: tuple[Daemon, FakeEngine, Recorder, ServiceRuntime],
) -> None:
    """An app that crashed before the outage is not started again because the engine came
    back: devd restarts nothing the developer has not saved for."""
    daemon, engine, out, runtime = setup
    assert runtime.container is not None
    runtime.container = replace(runtime.container, status="exited", exit_code=3)
    engine.live[runtime.container.id] = runtime.container
    engine.up = False
    daemon.engine_watch.check()
    engine.restart_engine()
    wait_for(lambda: out.named("engine back"), 10, "the engine back")
    time.sleep(0.3)
    assert engine.running() == []
    assert engine.calls.count("build") == 1  # the start-up build only


def test_status_during_an_outage_says_the_engine_does_not_answer(
    setup: tuple[Daemon, FakeEngine, Recorder, ServiceRuntime],
) -> None:
    """The status key while the engine is gone prints a state, not a traceback."""
    daemon, engine, out, _ = setup
    engine.up = False
    daemon.status()
    assert out.named("status")[-1]["state"] == "unknown: the engine does not answer"
    assert len(out.named(LOST)) == 1


def test_a_service_removed_during_an_outage_does_not_end_devd_up(
    setup: tuple[Daemon, FakeEngine, Recorder, ServiceRuntime],
) -> None:
    """devd.toml saved without a service while the engine is gone: the removal is said,
    the container could not be removed, and devd up goes on (no exception)."""
    daemon, engine, out, _ = setup
    engine.up = False
    daemon._retire("app")
    assert out.named("service removed") == [{"service": "app"}]
    assert len(out.named("could not remove the service's container")) == 1


def test_a_stray_container_of_the_service_is_cleared_when_the_engine_is_back(
    setup: tuple[Daemon, FakeEngine, Recorder, ServiceRuntime],
) -> None:
    """A second container labelled as the service's (made by a replace the outage cut
    short) is found by its labels when the engine is back and the service is recreated:
    exactly one container, running, even though the known one still runs (live-restore)."""
    daemon, engine, out, runtime = setup
    assert runtime.container is not None
    stray = replace(runtime.container, id="stray", status="created")
    engine.live["stray"] = stray
    engine.up = False
    daemon.engine_watch.check()
    engine.up = True  # live-restore: the known container kept running
    wait_for(lambda: len(out.named("running")) >= 2, 10, "the service recreated")
    assert len(engine.live) == 1
    assert len(engine.running()) == 1
    assert "stray" not in engine.live


def test_ctrl_c_during_an_outage_ends_the_held_work_at_once(
    setup: tuple[Daemon, FakeEngine, Recorder, ServiceRuntime],
) -> None:
    """devd stopping while work waits for the engine: the worker ends promptly, having
    touched nothing."""
    daemon, engine, _, runtime = setup
    engine.up = False
    daemon.engine_watch.check()
    save(daemon, runtime, "app/page.html")
    time.sleep(0.2)
    calls = list(engine.calls)
    started = time.monotonic()
    daemon.request_stop()
    for thread in daemon._threads:
        thread.join(timeout=5)
    assert not any(thread.is_alive() for thread in daemon._threads)
    assert time.monotonic() - started < 2
    assert engine.calls == calls


@pytest.mark.parametrize("still_followed", [True, False])
def test_a_running_container_is_followed_again_only_if_its_follower_ended(
    setup: tuple[Daemon, FakeEngine, Recorder, ServiceRuntime], still_followed: bool
) -> None:
    """The engine back with the container still running: after a restart (live-restore) its
    follower had ended and a new one starts; after a freeze (SIGSTOP) the follower's stream
    went on, and a second one would print every line twice and, once devd replaces the
    container, report it as exited by itself."""
    daemon, _, _, runtime = setup
    assert runtime.container is not None
    followed: list[str] = []
    daemon._follow_once = lambda r, info, again=False: followed.append(info.id)  # type: ignore[method-assign]
    if still_followed:
        runtime.following[runtime.container.id] += 1
    daemon.engine_back()
    assert followed == ([] if still_followed else [runtime.container.id])
