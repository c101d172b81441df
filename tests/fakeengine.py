"""A scripted engine for the daemon's tests: it answers like the engine adapter, keeps its
containers in a dict, and lets a test hold any operation at a chosen moment (``hold``) or take
the engine down as an operation is called (``fail_next``), which a real dockerd cannot be
timed to do. Engine behaviour itself is tested against the real engine elsewhere."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from devd import config
from devd.daemon.controller import ServiceSnapshot
from devd.daemon.supervisor import Supervisor
from devd.engine.anchors import AnchorStopped
from devd.engine.engine import BuildResult, ContainerInfo, ContainerSpec
from devd.engine.files import SyncResult
from devd.errors import EngineUnavailable
from devd.watch import Batch

DOWN = EngineUnavailable("no Docker engine answers at unix:///x.sock: Connection refused")
END = object()  # the end of a log stream


class FakeEngine:
    """Answers like the engine adapter; ``fail_next`` names an operation that takes the
    engine down as it is called; ``hooks[name]`` runs (in the caller's thread) as operation
    ``name`` is called, with its first argument, before it does anything."""

    def __init__(self) -> None:
        self.up = True
        self.fail_next: str | None = None
        self.live: dict[str, ContainerInfo] = {}
        self.calls: list[str] = []
        self.hooks: dict[str, Callable[[Any], None]] = {}
        self.streams: dict[str, list[queue.Queue[object]]] = {}  # open log streams
        self.follows: list[str] = []  # the containers whose output was asked for, in order
        self._ids = iter(range(1, 1000))
        self._lock = threading.Lock()
        self.anchor_stream_closed = threading.Event()

    def unreachable(self) -> str | None:
        return None if self.up else "Connection refused"

    def _hook(self, name: str, argument: Any = None) -> None:
        hook = self.hooks.get(name)
        if hook is not None:
            hook(argument)

    def _call(self, name: str, argument: Any = None) -> None:
        self._hook(name, argument)
        with self._lock:
            if self.fail_next == name:
                self.fail_next, self.up = None, False
            if not self.up:
                raise DOWN
            self.calls.append(name)

    def end_streams(self, container_id: str) -> None:
        """The engine ends the log streams of ``container_id`` (it stopped)."""
        with self._lock:
            streams = self.streams.pop(container_id, [])
        for stream in streams:
            stream.put(END)

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
        self._call("container", container_id)
        return self.live.get(container_id)

    def builder(self, choice: str) -> str:
        return "classic"  # no base images to look up: the build itself is faked

    def major_version(self) -> int | None:
        return 25

    def image_id(self, ref: str) -> str | None:
        return "sha256:base"

    def build(self, context: Any, **options: Any) -> BuildResult:
        self._call("build", options)
        on_labels = options.get("on_labels")
        if on_labels is not None:
            on_labels()
        self._hook("build done", options)
        return BuildResult(f"sha256:{next(self._ids)}", ())

    def tag_image(self, image_id: str, reference: str) -> None:
        pass

    def replace_container(self, spec: ContainerSpec) -> ContainerInfo:
        self._call("replace", spec)
        old = [k for k, v in self.live.items() if v.service == spec.service]
        for key in old:
            self.live.pop(key)
            self.end_streams(key)
        info = ContainerInfo(
            f"c{next(self._ids)}", spec.name, spec.image, spec.service, "running", None, "now"
        )
        self.live[info.id] = info
        self._hook("replaced", info)
        return info

    def stopped_anchor(self, container_id: str) -> str | None:
        self._call("stopped_anchor", container_id)
        return None

    def put_files(self, container_id: str, files: Any) -> SyncResult:
        self._call("sync", container_id)
        return SyncResult(len(files))

    def start_container(self, container_id: str) -> ContainerInfo:
        self._call("start", container_id)
        info = replace(self.live[container_id], status="running", exit_code=None)
        self.live[container_id] = info
        return info

    def restart_container(self, container_id: str, timeout: float) -> ContainerInfo:
        self._call("restart", container_id)
        self.end_streams(container_id)
        return self.live[container_id]

    def stop_container(self, container_id: str, timeout: float) -> None:
        self._call("stop", container_id)
        if container_id in self.live:
            self.live[container_id] = replace(self.live[container_id], status="exited")
        self.end_streams(container_id)

    def remove_container(self, container_id: str) -> None:
        self._call("remove", container_id)
        self.live.pop(container_id, None)
        self.end_streams(container_id)

    def wait_container(self, container_id: str, timeout: float | None = None) -> int | None:
        self._call("wait", container_id)
        info = self.live.get(container_id)
        return info.exit_code if info is not None else None

    def follow_logs(self, container_id: str) -> Iterator[str]:
        stream: queue.Queue[object] = queue.Queue()
        with self._lock:
            self.follows.append(container_id)
            self.streams.setdefault(container_id, []).append(stream)
        while (line := stream.get()) is not END:
            yield str(line)

    def tail_logs(self, container_id: str, lines: int = 20) -> list[str]:
        return []

    def remove_anchors(self, project: str, service: str | None = None) -> list[str]:
        self._call("remove anchors", service)
        return []

    def stop_anchors(self, project: str) -> None:
        self._call("stop anchors")

    def ensure_network(self, name: str, project: str) -> str:
        return name

    def ensure_volume(self, name: str, project: str) -> None:
        pass

    def volume_exists(self, name: str) -> bool:
        return True

    def remove_superseded_images(
        self, project: str, service: str, image_id: str, proceed: Callable[[], bool] = bool
    ) -> list[str]:
        return []  # image hygiene is pinned in test_generations.py and test_soak.py

    def remove_failed_build_images(self, image_ids: Any) -> int:
        return 0

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
