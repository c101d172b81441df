"""What devd tells the engine a container should be, and what it learns back: the labels that
make a container or image devd's (:func:`owner_labels`), :class:`ContainerSpec` and the create
request made from it, and :class:`ContainerInfo`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import docker.types

from devd.config import Healthcheck, Mount, PortMapping

LABEL_PROJECT = "devd.project"
LABEL_SERVICE = "devd.service"

NEVER_STARTED = "0001-01-01T00:00:00Z"


def owner_labels(project: str, service: str) -> dict[str, str]:
    """The labels that make a container or image devd's, for ``project``'s ``service``."""
    return {LABEL_PROJECT: project, LABEL_SERVICE: service}


def label_selector(project: str, service: str | None) -> list[str]:
    selector = [f"{LABEL_PROJECT}={project}"]
    if service is not None:
        selector.append(f"{LABEL_SERVICE}={service}")
    return selector


def labels_of(attrs: Mapping[str, Any]) -> dict[str, str]:
    return dict((attrs.get("Config") or {}).get("Labels") or {})


@dataclass(frozen=True)
class ContainerSpec:
    """What a service's container should be. ``command`` None runs the image's default."""

    name: str
    image: str
    project: str
    service: str
    ports: tuple[PortMapping, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    command: tuple[str, ...] | None = None
    stop_timeout: float = 10.0
    extra_labels: Mapping[str, str] = field(default_factory=dict)  # devd's own labels win
    entrypoint: tuple[str, ...] | None = None  # None: the image's
    working_dir: str | None = None
    user: str | None = None
    init: bool = True
    mounts: tuple[Mount, ...] = ()
    network: str | None = None  # joined with the service name as alias; None: default bridge
    healthcheck: Healthcheck | None = None  # None: the image's

    @property
    def labels(self) -> dict[str, str]:
        return {**self.extra_labels, **owner_labels(self.project, self.service)}


@dataclass(frozen=True)
class ContainerInfo:
    """A container as the engine last described it. ``exit_code`` is None unless it exited;
    ``started_at`` (RFC 3339, from the engine) is None if it never started."""

    id: str
    name: str
    image_id: str
    service: str
    status: str
    exit_code: int | None
    started_at: str | None
    health: str | None = None  # "starting", "healthy", "unhealthy"; None: no healthcheck

    @classmethod
    def from_inspect(cls, attrs: Mapping[str, Any]) -> ContainerInfo:
        state = attrs.get("State") or {}
        status = str(state.get("Status", "unknown"))
        started = state.get("StartedAt")
        return cls(
            id=attrs["Id"],
            name=str(attrs.get("Name", "")).lstrip("/"),
            image_id=str(attrs.get("Image", "")),
            service=labels_of(attrs).get(LABEL_SERVICE, ""),
            status=status,
            exit_code=int(state["ExitCode"]) if status in ("exited", "dead") else None,
            started_at=started if started and started != NEVER_STARTED else None,
            health=(state.get("Health") or {}).get("Status"),
        )


def _nanoseconds(seconds: float) -> int:
    return round(seconds * 1_000_000_000)


def create_options(api: Any, spec: ContainerSpec) -> dict[str, Any]:
    """The engine's create request for ``spec`` (``api``: docker-py's low-level client)."""
    bindings: dict[str, list[tuple[str, int | str]]] = {}
    for port in spec.ports:
        host_ip = (port.host_ip or "0.0.0.0").strip("[]")
        bindings.setdefault(f"{port.container}/{port.protocol}", []).append(
            (host_ip, port.host or "")  # "": the engine picks a free host port
        )
    network = spec.network
    return {
        "image": spec.image,
        "command": list(spec.command) if spec.command is not None else None,
        "name": spec.name,
        "labels": spec.labels,
        "environment": dict(spec.environment),
        "ports": [tuple(key.split("/")) for key in bindings],
        "detach": True,
        "stop_timeout": whole_seconds(spec.stop_timeout),
        "entrypoint": list(spec.entrypoint) if spec.entrypoint is not None else None,
        "working_dir": spec.working_dir,
        "user": spec.user,
        "healthcheck": _healthcheck(spec.healthcheck),
        "networking_config": api.create_networking_config(
            {network: api.create_endpoint_config(aliases=[spec.service])}
        )
        if network
        else None,
        "host_config": api.create_host_config(
            port_bindings=bindings,
            init=spec.init,
            mounts=[_mount(mount) for mount in spec.mounts] or None,
            network_mode=network,
        ),
    }


def _healthcheck(check: Healthcheck | None) -> dict[str, Any] | None:
    """The engine's healthcheck config (its durations are nanoseconds)."""
    if check is None:
        return None
    return {
        "test": list(check.test),
        "interval": _nanoseconds(check.interval_s),
        "timeout": _nanoseconds(check.timeout_s),
        "retries": check.retries,
        "start_period": _nanoseconds(check.start_period_s),
    }


def _mount(mount: Mount) -> docker.types.Mount:
    """A bind, named (or anonymous, empty source) volume, or tmpfs mount."""
    source = mount.source or None if mount.kind != "tmpfs" else None
    return docker.types.Mount(mount.target, source, type=mount.kind, read_only=mount.read_only)


def whole_seconds(timeout: float) -> int:
    """The engine's stop timeouts are whole seconds: round up, so a wait is never cut short."""
    return max(0, math.ceil(timeout))
