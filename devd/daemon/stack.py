"""Running several services as one stack: the project's network and volumes, the order
containers start in, and the waits ``depends_on`` asks for.

Builds are not ordered: every service's worker builds at once (the engine runs them side by
side, and a build is mostly waiting on the engine), and only the *start* of a container waits
for its dependencies: ``service_started`` until the dependency's container runs,
``service_healthy`` until the engine reports it healthy, ``service_completed_successfully``
until it exits 0. A later rebuild of one service replaces only that service: the waits are for
the first start.

The waits take a :class:`Probe` and an Event, so they are tested without an engine or a clock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from devd.config import Dependency, Healthcheck, ProjectConfig, ServiceConfig
from devd.engine.container_spec import ContainerInfo, ContainerSpec
from devd.errors import ConfigError, DependencyFailed, ExternalVolumeMissing, ImageMissing

POLL_S = 0.2
HEALTH_MARGIN_S = 5.0  # on top of what the healthcheck settings allow


def start_order(services: Mapping[str, ServiceConfig]) -> list[str]:
    """The services in an order where each comes after what it depends on (ties: as
    written). A required dependency that is not a service, or a cycle, is a ConfigError."""
    needs: dict[str, set[str]] = {}
    for name, service in services.items():
        needs[name] = set()
        for dependency in service.depends_on:
            if dependency.service in services:
                needs[name].add(dependency.service)
            elif dependency.required:
                raise ConfigError(
                    f"services.{name}.depends_on: no service {dependency.service!r} "
                    f"(services: {', '.join(services)})"
                )
    order: list[str] = []
    while len(order) < len(needs):
        ready = [n for n in needs if n not in order and needs[n] <= set(order)]
        if not ready:
            cycle = ", ".join(n for n in needs if n not in order)
            raise ConfigError(f"depends_on: the services {cycle} depend on each other in a cycle")
        order.extend(ready)
    return order


def needed(services: Mapping[str, ServiceConfig], names: Iterable[str]) -> set[str]:
    """``names`` and every service they depend on, through ``depends_on`` transitively: what
    ``devd rebuild SERVICE`` may start (an optional dependency that is not a service: none)."""
    found: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in found or name not in services:
            continue
        found.add(name)
        pending.extend(dependency.service for dependency in services[name].depends_on)
    return found


def one_shot(name: str, services: Mapping[str, ServiceConfig]) -> bool:
    """Whether another service waits for ``name`` to complete (``service_completed_successfully``):
    a one-shot job, such as a migration, whose exit 0 is its success, not a crash."""
    return any(
        dependency.service == name and dependency.condition == "service_completed_successfully"
        for service in services.values()
        for dependency in service.depends_on
    )


def health_budget(check: Healthcheck | None) -> float:
    """How long a dependency may take to become healthy: its start period, then every try
    (interval + timeout) until ``retries`` failures make it unhealthy, and a margin."""
    check = check or Healthcheck(test=("NONE",))
    tries = check.retries + 1
    return check.start_period_s + tries * (check.interval_s + check.timeout_s) + HEALTH_MARGIN_S


class Probe(Protocol):
    """What the waits look at: the dependency's running container and the engine."""

    def started(self, service: str) -> ContainerInfo | None:
        """The container ``service`` started (None: not yet)."""

    def failed(self, service: str) -> str | None:
        """Why ``service`` could not start (None: it has not failed)."""

    def inspect(self, container_id: str) -> ContainerInfo | None:
        """A fresh look at a container (None: gone)."""


@dataclass(frozen=True)
class Waits:
    """Waiting for one service's dependencies; ``stop`` ends every wait (returns False)."""

    probe: Probe
    stop: threading.Event
    clock: Callable[[], float]
    services: Mapping[str, ServiceConfig]

    def ready(self, service: ServiceConfig) -> bool:
        """Wait until every dependency of ``service`` is as its condition asks; False when
        devd stops first. DependencyFailed names both services when one never will be."""
        for dependency in service.depends_on:
            if dependency.service not in self.services:
                continue
            container = self._started(service.name, dependency)
            if container is None or not self._condition_met(service.name, dependency, container):
                return False
        return True

    def _condition_met(self, name: str, dependency: Dependency, container: ContainerInfo) -> bool:
        if dependency.condition == "service_healthy":
            return self._healthy(name, dependency, container)
        if dependency.condition == "service_completed_successfully":
            return self._completed(name, dependency, container)
        return True

    def _started(self, name: str, dependency: Dependency) -> ContainerInfo | None:
        while not self.stop.is_set():
            container = self.probe.started(dependency.service)
            if container is not None:
                return container
            reason = self.probe.failed(dependency.service)
            if reason is not None:
                raise DependencyFailed(_blocked(name, dependency, f"failed to start: {reason}"))
            self.stop.wait(POLL_S)
        return None

    def _healthy(self, name: str, dependency: Dependency, container: ContainerInfo) -> bool:
        check = self.services[dependency.service].healthcheck
        budget = health_budget(check)
        deadline = self.clock() + budget
        while not self.stop.is_set():
            info = self.probe.inspect(container.id)
            problem = _not_running(info)
            if problem is not None:
                raise DependencyFailed(_blocked(name, dependency, problem))
            assert info is not None
            if info.health == "healthy":
                return True
            if info.health == "unhealthy":
                raise DependencyFailed(_blocked(name, dependency, "became unhealthy"))
            if info.health is None:
                raise DependencyFailed(_blocked(name, dependency, "has no healthcheck"))
            if self.clock() > deadline:
                why = f"was not healthy after {budget:.0f} s (its healthcheck's settings)"
                raise DependencyFailed(_blocked(name, dependency, why))
            self.stop.wait(POLL_S)
        return False

    def _completed(self, name: str, dependency: Dependency, container: ContainerInfo) -> bool:
        while not self.stop.is_set():
            info = self.probe.inspect(container.id)
            if info is None:
                raise DependencyFailed(_blocked(name, dependency, "its container is gone"))
            if info.status in ("exited", "dead"):
                if info.exit_code == 0:
                    return True
                why = f"exited with code {info.exit_code}"
                raise DependencyFailed(_blocked(name, dependency, why))
            self.stop.wait(POLL_S)
        return False


def _not_running(info: ContainerInfo | None) -> str | None:
    if info is None:
        return "its container is gone"
    if info.status in ("exited", "dead"):
        return f"exited with code {info.exit_code}"
    return None


def _blocked(name: str, dependency: Dependency, why: str) -> str:
    return (
        f"service {name!r} not started: it depends on {dependency.service!r} "
        f"({dependency.condition}), which {why}"
    )


def check_images(project: ProjectConfig, image_id: Callable[[str], str | None]) -> None:
    """ImageMissing for the first image-only service whose image is not in the engine."""
    for service in project.services.values():
        if not service.build:
            image_of(service, image_id)


def volumes_mounted(project: ProjectConfig, services: Iterable[str]) -> set[str]:
    """The engine names of the named volumes ``services`` mount."""
    return {
        mount.source
        for name in services
        for mount in project.services[name].volumes
        if mount.kind == "volume" and mount.source
    }


def check_external_volumes(
    project: ProjectConfig, exists: Callable[[str], bool], services: Iterable[str] | None = None
) -> None:
    """ExternalVolumeMissing for the first external volume not in the engine (of those
    ``services`` mount, when given): devd creates none, as compose does not (``docker volume
    create`` is the user's)."""
    used = None if services is None else volumes_mounted(project, services)
    for volume in project.external_volumes:
        if used is not None and volume.name not in used:
            continue
        if not exists(volume.name):
            raise ExternalVolumeMissing(
                f"{volume.key}: external volume {volume.name!r} not found; devd does not create "
                f"external volumes: create it first (docker volume create {volume.name})"
            )


def image_of(service: ServiceConfig, image_id: Callable[[str], str | None]) -> str:
    """The id of an image-only service's image; ImageMissing naming both when absent."""
    found = image_id(service.image) if service.image else None
    if found is None:
        raise ImageMissing(
            f"service {service.name!r}: image {service.image!r} not found locally and devd "
            "does not pull; build or pull it first"
        )
    return found


def container_spec(
    project: ProjectConfig,
    service: ServiceConfig,
    *,
    name: str,
    image: str,
    environment: Mapping[str, str],
) -> ContainerSpec:
    """What ``service``'s container is: its settings, the project network, devd's labels."""
    compose = project.compose_file is not None
    return ContainerSpec(
        name=name,
        image=image,
        project=project.name,
        service=service.name,
        ports=service.ports,
        environment=environment,
        command=service.command,
        stop_timeout=service.stop_timeout,
        stop_signal=service.stop_signal,
        options=service.options,
        extra_labels=service.labels,
        entrypoint=service.entrypoint,
        working_dir=service.working_dir,
        user=service.user,
        init=service.init if compose else True,  # devd.toml services always ran under init
        mounts=service.volumes,
        network=project.network,
        healthcheck=service.healthcheck,
        anchored=service.build,  # rebuilt services keep their network between containers
    )
