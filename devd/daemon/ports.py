"""The seams of the daemon: what its parts ask of the engine and of each other, as Protocols,
so the tests hand them typed fakes (tests/fakeengine.py) and each part says what it uses.

The engine's side is one Protocol per client of :class:`devd.engine.engine.Engine`
(containers, anchors, builds, images, files, execs, logs, resources, transport), each listing
only what the daemon calls; :class:`DaemonEngine` holds them, as ``Engine`` does. A step takes
the clients it uses, not the whole engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from devd.config import ExecHook
from devd.core.build_result import BuildResult
from devd.core.builders import Builder, BuilderChoice
from devd.core.dockerfile import StepLines
from devd.engine.anchors import AnchorStopped
from devd.engine.build_source import BuildSource
from devd.engine.container_spec import ContainerInfo, ContainerSpec
from devd.engine.context import ContextArchive
from devd.engine.exec import ImageDefaults
from devd.engine.files import SyncResult


class ContainerClient(Protocol):
    """A service's containers (:class:`devd.engine.containers.Containers`)."""

    def of_project(self, project: str, service: str | None = None) -> list[ContainerInfo]: ...
    def get(self, container_id: str) -> ContainerInfo | None: ...
    def replace(self, spec: ContainerSpec) -> ContainerInfo: ...
    def start(self, container_id: str) -> ContainerInfo: ...
    def stop(self, container_id: str, timeout: float) -> None: ...
    def remove(self, container_id: str) -> None: ...
    def restart(self, container_id: str, timeout: float) -> ContainerInfo: ...
    def wait(self, container_id: str, timeout: float | None = None) -> int | None: ...


class AnchorClient(Protocol):
    """The anchors holding the services' networks (:class:`devd.engine.anchors.Anchors`)."""

    def stops(self, project: str) -> Iterable[AnchorStopped]: ...
    def close_stops(self) -> None: ...
    def stopped(self, container_id: str) -> str | None: ...
    def stop_all(self, project: str) -> None: ...
    def remove(self, project: str, service: str | None = None) -> list[str]: ...


class BuildClient(Protocol):
    """Building images (:class:`devd.engine.build.Builds`)."""

    def builder(self, choice: BuilderChoice) -> Builder: ...
    def build(
        self,
        context: ContextArchive | BuildSource,
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


class ImageClient(Protocol):
    """The image store (:class:`devd.engine.images.Images`)."""

    def id_of(self, ref: str) -> str | None: ...
    def pull(self, reference: str) -> str | None: ...
    def tag(self, image_id: str, reference: str) -> None: ...
    def remove_superseded(
        self, project: str, service: str, current: str, proceed: Callable[[], bool] = ...
    ) -> list[str]: ...
    def remove_failed_build(self, image_ids: Sequence[str]) -> int: ...


class FileClient(Protocol):
    """Copying files into a container (:class:`devd.engine.files.Files`)."""

    def put(self, container_id: str, files: Mapping[str, Path | None]) -> SyncResult: ...
    def exists(self, container_id: str, path: str) -> bool: ...


class ExecClient(Protocol):
    """Running commands in a container (:class:`devd.engine.exec.Execs`)."""

    def run(
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


class LogClient(Protocol):
    """A container's output (:class:`devd.engine.logs.Logs`)."""

    def follow(self, container_id: str) -> Iterator[str]: ...
    def tail(self, container_id: str, lines: int = 20) -> list[str]: ...


class ResourceClient(Protocol):
    """The project's network and volumes (:class:`devd.engine.resources.Resources`)."""

    def ensure_network(self, name: str, project: str) -> str: ...
    def ensure_volume(self, name: str, project: str) -> None: ...
    def volume_exists(self, name: str) -> bool: ...


class TransportClient(Protocol):
    """Whether the engine answers, and its version (:class:`devd.engine.transport.Transport`)."""

    def unreachable(self) -> str | None: ...
    def major_version(self) -> int | None: ...


class DaemonEngine(Protocol):
    """Everything ``devd up`` asks of the engine: :class:`devd.engine.engine.Engine`'s clients."""

    @property
    def transport(self) -> TransportClient: ...
    @property
    def builds(self) -> BuildClient: ...
    @property
    def containers(self) -> ContainerClient: ...
    @property
    def anchors(self) -> AnchorClient: ...
    @property
    def files(self) -> FileClient: ...
    @property
    def execs(self) -> ExecClient: ...
    @property
    def logs(self) -> LogClient: ...
    @property
    def images(self) -> ImageClient: ...
    @property
    def resources(self) -> ResourceClient: ...


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
