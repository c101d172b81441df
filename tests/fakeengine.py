"""A scripted engine for the daemon's tests: it answers like the engine adapter, keeps its
containers in a dict, and lets a test hold any operation at a chosen moment (``hold``) or take
the engine down as an operation is called (``fail_next``), which a real dockerd cannot be
timed to do. Engine behaviour itself is tested against the real engine elsewhere."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from devd import config
from devd.config import ExecHook
from devd.core.build_result import BuildResult
from devd.core.builders import Builder
from devd.daemon.controller import ServiceSnapshot
from devd.daemon.supervisor import Supervisor
from devd.engine.anchors import AnchorStopped
from devd.engine.container_spec import ContainerInfo, ContainerSpec
from devd.engine.exec import ImageDefaults
from devd.engine.files import SyncResult
from devd.errors import EngineUnavailable
from devd.watch import Batch

DOWN = EngineUnavailable("no Docker engine answers at unix:///x.sock: Connection refused")
END = object()  # the end of a log stream


class FakeEngine:
    """The world the fake clients share: the containers (``live``), the open log streams,
    the operations done (``calls``). ``fail_next`` names an operation that takes the engine
    down as it is called; ``hooks[name]`` runs (in the caller's thread) as operation ``name``
    is called, with its first argument, before it does anything. Its clients are
    :class:`devd.engine.engine.Engine`'s, typed by :class:`devd.daemon.ports.DaemonEngine`."""

    def __init__(self) -> None:
        self.up = True
        self.fail_next: str | None = None
        self.live: dict[str, ContainerInfo] = {}
        self.calls: list[str] = []
        self.hooks: dict[str, Callable[[Any], None]] = {}
        self.streams: dict[str, list[queue.Queue[object]]] = {}  # open log streams
        self.follows: list[str] = []  # the containers whose output was asked for, in order
        self.ids = iter(range(1, 1000))
        self.lock = threading.Lock()
        self.anchor_stream_closed = threading.Event()
        self.transport = FakeTransport(self)
        self.builds = FakeBuilds(self)
        self.containers = FakeContainers(self)
        self.anchors = FakeAnchors(self)
        self.files = FakeFiles(self)
        self.execs = FakeExecs(self)
        self.logs = FakeLogs(self)
        self.images = FakeImages(self)
        self.resources = FakeResources(self)

    def hook(self, name: str, argument: Any = None) -> None:
        hook = self.hooks.get(name)
        if hook is not None:
            hook(argument)

    def call(self, name: str, argument: Any = None) -> None:
        """Operation ``name`` is asked for: its hook runs, then it fails if the engine is down."""
        self.hook(name, argument)
        with self.lock:
            if self.fail_next == name:
                self.fail_next, self.up = None, False
            if not self.up:
                raise DOWN
            self.calls.append(name)

    def end_streams(self, container_id: str) -> None:
        """The engine ends the log streams of ``container_id`` (it stopped)."""
        with self.lock:
            streams = self.streams.pop(container_id, [])
        for stream in streams:
            stream.put(END)

    def restart_engine(self) -> None:
        """The engine comes back; like dockerd without live-restore, its containers stopped."""
        with self.lock:
            for key, info in self.live.items():
                self.live[key] = replace(info, status="exited", exit_code=143)
            self.up = True

    def running(self) -> list[ContainerInfo]:
        return [c for c in self.live.values() if c.status == "running"]


class FakeClient:
    def __init__(self, world: FakeEngine) -> None:
        self.world = world


class FakeTransport(FakeClient):
    def unreachable(self) -> str | None:
        return None if self.world.up else "Connection refused"

    def major_version(self) -> int | None:
        return 25


class FakeBuilds(FakeClient):
    def builder(self, choice: str) -> Builder:
        return "classic"  # no base images to look up: the build itself is faked

    def build(self, context: Any, **options: Any) -> BuildResult:
        self.world.call("build", options)
        on_labels = options.get("on_labels")
        if on_labels is not None:
            on_labels()
        self.world.hook("build done", options)
        return BuildResult(f"sha256:{next(self.world.ids)}", ())


class FakeContainers(FakeClient):
    def of_project(self, project: str, service: str | None = None) -> list[ContainerInfo]:
        self.world.call("containers")
        return [c for c in self.world.live.values() if service in (None, c.service)]

    def get(self, container_id: str) -> ContainerInfo | None:
        self.world.call("container", container_id)
        return self.world.live.get(container_id)

    def replace(self, spec: ContainerSpec) -> ContainerInfo:
        world = self.world
        world.call("replace", spec)
        for key in [k for k, v in world.live.items() if v.service == spec.service]:
            world.live.pop(key)
            world.end_streams(key)
        info = ContainerInfo(
            f"c{next(world.ids)}", spec.name, spec.image, spec.service, "running", None, "now"
        )
        world.live[info.id] = info
        world.hook("replaced", info)
        return info

    def start(self, container_id: str) -> ContainerInfo:
        self.world.call("start", container_id)
        info = replace(self.world.live[container_id], status="running", exit_code=None)
        self.world.live[container_id] = info
        return info

    def restart(self, container_id: str, timeout: float) -> ContainerInfo:
        self.world.call("restart", container_id)
        self.world.end_streams(container_id)
        return self.world.live[container_id]

    def stop(self, container_id: str, timeout: float) -> None:
        world = self.world
        world.call("stop", container_id)
        if container_id in world.live:
            world.live[container_id] = replace(world.live[container_id], status="exited")
        world.end_streams(container_id)

    def remove(self, container_id: str) -> None:
        self.world.call("remove", container_id)
        self.world.live.pop(container_id, None)
        self.world.end_streams(container_id)

    def wait(self, container_id: str, timeout: float | None = None) -> int | None:
        self.world.call("wait", container_id)
        info = self.world.live.get(container_id)
        return info.exit_code if info is not None else None


class FakeAnchors(FakeClient):
    def stops(self, project: str) -> list[AnchorStopped]:
        """No anchor stops: the stream stays open until devd stops."""
        self.world.anchor_stream_closed.wait()
        return []

    def close_stops(self) -> None:
        self.world.anchor_stream_closed.set()

    def stopped(self, container_id: str) -> str | None:
        self.world.call("stopped_anchor", container_id)
        return None

    def stop_all(self, project: str) -> None:
        self.world.call("stop anchors")

    def remove(self, project: str, service: str | None = None) -> list[str]:
        self.world.call("remove anchors", service)
        return []


class FakeFiles(FakeClient):
    def put(self, container_id: str, files: Mapping[str, Path | None]) -> SyncResult:
        self.world.call("sync", container_id)
        return SyncResult(len(files))

    def exists(self, container_id: str, path: str) -> bool:
        return False


class FakeExecs(FakeClient):
    def run(
        self, container_id: str, command: tuple[str, ...] | ExecHook
    ) -> tuple[int | None, list[str]]:
        self.world.call("exec", container_id)
        return 0, []

    def run_step(self, container_id: str, argv: Sequence[str], **options: Any) -> int | None:
        self.world.call("run step", container_id)
        return 0

    def image_defaults(self, image: str) -> ImageDefaults | None:
        return ImageDefaults("", {})


class FakeLogs(FakeClient):
    def follow(self, container_id: str) -> Iterator[str]:
        stream: queue.Queue[object] = queue.Queue()
        with self.world.lock:
            self.world.follows.append(container_id)
            self.world.streams.setdefault(container_id, []).append(stream)
        while (line := stream.get()) is not END:
            yield str(line)

    def tail(self, container_id: str, lines: int = 20) -> list[str]:
        return []


class FakeImages(FakeClient):
    def id_of(self, ref: str) -> str | None:
        return "sha256:base"

    def pull(self, reference: str) -> str | None:
        return None

    def tag(self, image_id: str, reference: str) -> None:
        pass

    def remove_superseded(
        self, project: str, service: str, current: str, proceed: Callable[[], bool] = bool
    ) -> list[str]:
        return []  # image hygiene is pinned in test_generations.py and test_soak.py

    def remove_failed_build(self, image_ids: Sequence[str]) -> int:
        return 0


class FakeResources(FakeClient):
    def ensure_network(self, name: str, project: str) -> str:
        return name

    def ensure_volume(self, name: str, project: str) -> None:
        pass

    def volume_exists(self, name: str) -> bool:
        return True


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


class FakeUp:
    """``devd up`` (a :class:`Supervisor` running in a thread) on the project at ``root``
    against ``engine``; its configuration re-read from ``root`` on a change (live reload).
    :meth:`save` hands it a batch as the watcher would."""

    def __init__(self, root: Path, engine: FakeEngine, out: Recorder, follow: bool = False) -> None:
        self.root = root
        self.engine = engine
        self.out = out
        self.supervisor = Supervisor(
            config.load(root, environ={}),
            engine,
            out,
            loader=lambda: config.load(root, environ={}),
            follow=follow,
        )
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="up", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.supervisor.run()
        except BaseException as error:  # handed to the test
            self.error = error

    def save(self, *paths: str) -> None:
        """What the watcher hands the supervisor for a save of ``paths``."""
        self.supervisor.handle(Batch(frozenset(paths), time.monotonic()))

    def snapshot(self, service: str = "app") -> ServiceSnapshot:
        controller = self.supervisor.controller(service)
        assert controller is not None, f"no service {service}"
        return controller.snapshot()

    def stop(self) -> None:
        self.supervisor.request_stop()
        self.thread.join(15)
        assert not self.thread.is_alive(), "devd up did not stop"
        assert self.error is None, self.error


def project(tmp: Path, devd_toml: str) -> Path:
    """A project at ``tmp/proj``: app/page.html, a Dockerfile copying app/, an
    old.Dockerfile (for a second service), and ``devd_toml``."""
    root = tmp / "proj"
    (root / "app").mkdir(parents=True)
    (root / "app/page.html").write_text("v1\n")
    (root / "Dockerfile").write_text('FROM scratch\nCOPY app/ /app/\nCMD ["/app/run"]\n')
    (root / "old.Dockerfile").write_text('FROM scratch\nCMD ["/run"]\n')
    (root / "devd.toml").write_text(devd_toml)
    return root
