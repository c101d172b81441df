"""The replace step's parts: a service's container spec from the configuration (its env file
read now), the project's network and volumes, the dependencies a first start waits for
(``depends_on``), and the image of an image-only service (compose ``image:`` without
``build:``). The replace itself is one engine call, made by the service's controller
(:mod:`devd.daemon.controller`), which alone writes the service's container.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection

from devd import envfile
from devd.config import ProjectConfig, ServiceConfig
from devd.daemon import stack
from devd.daemon.board import Board
from devd.daemon.names import container_name
from devd.daemon.ports import ContainerClient, Reporter, ResourceClient
from devd.engine.container_spec import ContainerInfo, ContainerSpec


def prepare_resources(
    resources: ResourceClient, project: ProjectConfig, services: Collection[str] | None = None
) -> None:
    """Create (or reuse) the project's network and named volumes, devd's labels on them,
    once every external volume is known to exist (ExternalVolumeMissing: nothing made).
    With ``services``, only the volumes those services mount are checked and made."""
    stack.check_external_volumes(project, resources.volume_exists, services)
    if project.network is not None:
        resources.ensure_network(project.network, project.name)
    used = None if services is None else stack.volumes_mounted(project, services)
    for volume in project.volumes:
        if used is None or volume in used:
            resources.ensure_volume(volume, project.name)


def container_spec(project: ProjectConfig, service: ServiceConfig, image_id: str) -> ContainerSpec:
    """What the service's container is to be, from ``image_id``."""
    return stack.container_spec(
        project,
        service,
        name=container_name(project.name, service.name, service.container_name),
        image=image_id,
        environment=_environment(service),
    )


def _environment(service: ServiceConfig) -> dict[str, str]:
    values: dict[str, str] = {}
    if service.env_file is not None:
        values.update(envfile.read(service.env_file, f"services.{service.name}.env_file"))
    values.update(service.environment)
    return values


def dependencies_ready(
    project: ProjectConfig,
    service: ServiceConfig,
    board: Board,
    containers: ContainerClient,
    stop: threading.Event,
    out: Reporter,
) -> bool:
    """Before a service's first start: wait for what it depends on (False: devd stops;
    DependencyFailed when a dependency never will be as asked)."""
    if not service.depends_on:
        return True
    waits = stack.Waits(_Probe(board, containers), stop, time.monotonic, project.services)
    names = [d.service for d in service.depends_on]
    out.info("waiting for dependencies", service=service.name, on=names)
    return waits.ready(service)


class _Probe:
    """What the dependency waits (:mod:`devd.daemon.stack`) see: the board, and the engine."""

    def __init__(self, board: Board, containers: ContainerClient) -> None:
        self._board = board
        self._containers = containers

    def started(self, service: str) -> ContainerInfo | None:
        return self._board.started(service)

    def failed(self, service: str) -> str | None:
        return self._board.failed(service)

    def inspect(self, container_id: str) -> ContainerInfo | None:
        return self._containers.get(container_id)
