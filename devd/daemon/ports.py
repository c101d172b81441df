"""The seams of the daemon: what its parts ask of the engine and of each other, as Protocols,
so the tests hand them typed fakes (tests/fakeengine.py) and each part says what it uses.

The engine's side is split by what is asked of it (containers, anchors, builds, images,
files, execs, logs, resources); :class:`DaemonEngine` is all of them, what
:class:`devd.engine.engine.Engine` is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from devd.config import ExecHook
from devd.core.build_result import BuildResult
from devd.core.builders import Builder, BuilderChoice
from devd.core.dockerfile import StepLines
from devd.engine.anchors import AnchorStopped
from devd.engine.container_spec import ContainerInfo, ContainerSpec
from devd.engine.context import ContextArchive
from devd.engine.exec import ImageDefaults
from devd.engine.files import SyncResult


class Containers(Protocol):
    """A service's containers: found by devd's labels, replaced, started, stopped."""

    def containers(self, project: str, service: str | None = None) -> list[ContainerInfo]: ...
    def container(self, container_id: str) -> ContainerInfo | None: ...
    def replace_container(self, spec: ContainerSpec) -> ContainerInfo: ...
    def start_container(self, container_id: str) -> ContainerInfo: ...
    def stop_container(self, container_id: str, timeout: float) -> None: ...
    def remove_container(self, container_id: str) -> None: ...
    def restart_container(self, container_id: str, timeout: float) -> ContainerInfo: ...
    def wait_container(self, container_id: str, timeout: float | None = None) -> int | None: ...


class Anchors(Protocol):
    """The anchors holding the services' networks (:mod:`devd.engine.anchors`)."""

    def anchor_stops(self, project: str) -> Iterator[AnchorStopped] | list[AnchorStopped]: ...
    def close_anchor_stops(self) -> None: ...
    def stopped_anchor(self, container_id: str) -> str | None: ...
    def stop_anchors(self, project: str) -> None: ...
    def remove_anchors(self, project: str, service: str | None = None) -> list[str]: ...


class Builds(Protocol):
    """Building images."""

    def builder(self, choice: BuilderChoice) -> Builder: ...
    def major_version(self) -> int | None: ...
    def build(
        self,
        context: ContextArchive,
        *,
        tag: str,
        labels: Mapping[str, str],
        build_args: Mapping[str, str],
        target: str | None,
        no_cache: bool,
        builder: Builder = "classic",
        network: str | None = None,
        lines: StepLines | None = None,
        on_line: Callable[[str], None] | None = None,
        on_labels: Callable[[], None] | None = None,
    ) -> BuildResult: ...


class Images(Protocol):
    """The image store: base images, tags, and removing what devd's builds left."""

    def image_id(self, ref: str) -> str | None: ...
    def pull_image(self, reference: str) -> str | None: ...
    def tag_image(self, image_id: str, reference: str) -> None: ...
    def remove_superseded_images(
        self, project: str, service: str, current: str, proceed: Callable[[], bool] = ...
    ) -> list[str]: ...
    def remove_failed_build_images(self, image_ids: Sequence[str]) -> int: ...


class Files(Protocol):
    """Copying files into a container."""

    def put_files(self, container_id: str, files: Mapping[str, Path | None]) -> SyncResult: ...


class Execs(Protocol):
    """Running commands in a container."""

    def exec_in(
        self, container_id: str, command: tuple[str, ...] | ExecHook
    ) -> tuple[int | None, list[str]]: ...
    def run_step(
        self,
        container_id: str,
        argv: Sequence[str],
        *,
        user: str,
        workdir: str,
        environment: Mapping[str, str],
        on_line: Callable[[str], None],
    ) -> int | None: ...
    def image_defaults(self, image: str) -> ImageDefaults | None: ...
    def path_in(self, container_id: str, path: str) -> bool: ...


class Logs(Protocol):
    """A container's output."""

    def follow_logs(self, container_id: str) -> Iterator[str]: ...
    def tail_logs(self, container_id: str, lines: int = 20) -> list[str]: ...


class Resources(Protocol):
    """The project's network and volumes."""

    def ensure_network(self, name: str, project: str) -> str: ...
    def ensure_volume(self, name: str, project: str) -> None: ...
    def volume_exists(self, name: str) -> bool: ...


class DaemonEngine(Containers, Anchors, Builds, Images, Files, Execs, Logs, Resources, Protocol):
    """Everything ``devd up`` asks of the engine, and whether it answers at all."""

    def unreachable(self) -> str | None: ...


class Reporter(Protocol):
    """Where the daemon says what happened (:class:`devd.output.Output`)."""

    def info(self, event: str, **fields: Any) -> None: ...
    def warning(self, event: str, **fields: Any) -> None: ...
    def error(self, event: str, **fields: Any) -> None: ...
    def debug(self, event: str, **fields: Any) -> None: ...
    def line(self, service: str, line: str, *, stream: str = "output") -> None: ...


class EngineState(Protocol):
    """What the daemon's parts ask of :class:`devd.daemon.enginewatch.EngineWatch`."""

    def check(self) -> bool: ...
    def wait_up(self) -> bool: ...
    def in_flight(self) -> AbstractContextManager[None]: ...
