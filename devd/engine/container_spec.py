"""What devd tells the engine a container should be, and what it learns back: the labels that
make a container or image devd's (:func:`owner_labels`), :class:`ContainerSpec` and the create
requests made from it (the service's container's, and its anchor's: :mod:`devd.engine.anchors`), and
:class:`ContainerInfo`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import docker.types

from devd.config import ContainerOptions, Healthcheck, Mount, PortMapping

LABEL_PROJECT = "devd.project"
LABEL_SERVICE = "devd.service"
# An image devd builds carries one label, "<project>/<service>": the classic builder spends a
# build step (about 70 ms) on each label, and a container someone else runs from the image
# must not inherit devd.project and so pass for devd's. Images built before carry
# devd.project and devd.service (:func:`image_owner` reads both).
LABEL_IMAGE = "devd.image"
# An anchor (devd.engine.anchors) has labels of its own, so that nothing that lists a project's
# containers by devd.project takes it for a service's container.
LABEL_ANCHOR_PROJECT = "devd.anchor.project"
LABEL_ANCHOR_SERVICE = "devd.anchor.service"
LABEL_ANCHOR_CONFIG = "devd.anchor.config"  # digest of what the anchor was made with

NEVER_STARTED = "0001-01-01T00:00:00Z"


def owner_labels(project: str, service: str) -> dict[str, str]:
    """The labels that make a container devd's, for ``project``'s ``service``."""
    return {LABEL_PROJECT: project, LABEL_SERVICE: service}


def image_labels(project: str, service: str) -> dict[str, str]:
    """The label that makes an image devd's, built for ``project``'s ``service``."""
    return {LABEL_IMAGE: f"{project}/{service}"}


def image_owner(labels: Mapping[str, str] | None) -> tuple[str, str] | None:
    """The (project, service) an image was built for, from its labels (an older devd's two
    labels too); None when devd did not build it."""
    labels = labels or {}
    project, slash, service = labels.get(LABEL_IMAGE, "").partition("/")
    if slash and project and service:
        return project, service
    if LABEL_PROJECT in labels:
        return labels[LABEL_PROJECT], labels.get(LABEL_SERVICE, "")
    return None


def label_selector(
    project: str, service: str | None, keys: tuple[str, str] = (LABEL_PROJECT, LABEL_SERVICE)
) -> list[str]:
    """The engine's label filter for ``project`` (and ``service``); ``keys``: the label keys
    (a container's, or an anchor's)."""
    selector = [f"{keys[0]}={project}"]
    if service is not None:
        selector.append(f"{keys[1]}={service}")
    return selector


def labelled_as(
    labels: Mapping[str, str] | None,
    project: str,
    service: str | None,
    keys: tuple[str, str] = (LABEL_PROJECT, LABEL_SERVICE),
) -> bool:
    """Whether ``labels`` say ``project``'s (and ``service``'s), under ``keys``."""
    labels = labels or {}
    return labels.get(keys[0]) == project and (service is None or labels.get(keys[1]) == service)


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
    stop_signal: str | None = None  # None: the image's (SIGTERM unless its STOPSIGNAL says)
    extra_labels: Mapping[str, str] = field(default_factory=dict)  # devd's own labels win
    entrypoint: tuple[str, ...] | None = None  # None: the image's
    working_dir: str | None = None
    user: str | None = None
    init: bool = True
    mounts: tuple[Mount, ...] = ()
    network: str | None = None  # joined with the service name as alias; None: default bridge
    healthcheck: Healthcheck | None = None  # None: the image's
    anchored: bool = False  # keep its network in an anchor container (devd.engine.anchors)
    options: ContainerOptions = field(default_factory=ContainerOptions)  # extra_hosts: anchor

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


def create_options(api: Any, spec: ContainerSpec, anchor: str | None = None) -> dict[str, Any]:
    """The engine's create request for ``spec`` (``api``: docker-py's low-level client). With
    ``anchor`` (a container id) the container joins that container's network, which then
    holds the ports and the network alias: the request names neither."""
    bindings = {} if anchor else _port_bindings(spec)
    return {
        "image": spec.image,
        "command": list(spec.command) if spec.command is not None else None,
        "name": spec.name,
        "labels": spec.labels,
        "environment": dict(spec.environment),
        "ports": [tuple(key.split("/")) for key in bindings],
        "detach": True,
        "stop_timeout": whole_seconds(spec.stop_timeout),
        "stop_signal": spec.stop_signal,
        "entrypoint": list(spec.entrypoint) if spec.entrypoint is not None else None,
        "working_dir": spec.working_dir,
        "user": spec.user,
        "healthcheck": _healthcheck(spec.healthcheck),
        "networking_config": None if anchor else _networking_config(api, spec),
        "host_config": api.create_host_config(
            port_bindings=bindings,
            init=spec.init,
            mounts=[_mount(mount) for mount in spec.mounts] or None,
            network_mode=f"container:{anchor}" if anchor else spec.network,
            # the engine refuses extra hosts with a container's network: the anchor has them
            extra_hosts=None if anchor else list(spec.options.extra_hosts) or None,
            **_run_options(spec.options),
        ),
    }


def _run_options(options: ContainerOptions) -> dict[str, Any]:
    """The host config of compose's container options (None: the engine's default)."""
    return {
        "cap_add": list(options.cap_add) or None,
        "cap_drop": list(options.cap_drop) or None,
        "read_only": options.read_only or None,
        "shm_size": options.shm_size,
        "ulimits": [docker.types.Ulimit(name=u.name, soft=u.soft, hard=u.hard)
                    for u in options.ulimits] or None,
    }  # fmt: skip


def anchor_name(name: str) -> str:
    """The name of the anchor of the container named ``name``."""
    return f"{name}.anchor"


def anchor_labels(spec: ContainerSpec, image: str) -> dict[str, str]:
    """An anchor's labels: whose it is, and a digest of the network it was made with (its
    image, ports, network, alias): a different digest means it must be made again."""
    made_with: list[Any] = [image, sorted(_port_bindings(spec).items()), spec.network, spec.service]
    if spec.options.extra_hosts:  # (only when set: anchors made before keep their digest)
        made_with.append(list(spec.options.extra_hosts))
    digest = hashlib.sha256(json.dumps(made_with).encode()).hexdigest()[:16]
    return {
        LABEL_ANCHOR_PROJECT: spec.project,
        LABEL_ANCHOR_SERVICE: spec.service,
        LABEL_ANCHOR_CONFIG: digest,
    }


def anchor_options(api: Any, spec: ContainerSpec, image: str) -> dict[str, Any]:
    """The create request for ``spec``'s anchor, from the anchor image ``image``: the ports,
    the network and the alias that ``spec`` asks for, nothing else."""
    bindings = _port_bindings(spec)
    return {
        "image": image,
        "name": anchor_name(spec.name),
        "labels": anchor_labels(spec, image),
        "ports": [tuple(key.split("/")) for key in bindings],
        "detach": True,
        "stop_signal": "SIGKILL",  # its PID 1 has no handler: SIGTERM would do nothing
        # The container's name too: on a project network a container answers to its own name,
        # and the containers joining the anchor have no endpoint to answer with.
        "networking_config": _networking_config(api, spec, spec.name),
        "host_config": api.create_host_config(
            port_bindings=bindings,
            network_mode=spec.network,
            extra_hosts=list(spec.options.extra_hosts) or None,  # its joiners' /etc/hosts
        ),
    }


def _port_bindings(spec: ContainerSpec) -> dict[str, list[tuple[str, int | str]]]:
    bindings: dict[str, list[tuple[str, int | str]]] = {}
    for port in spec.ports:
        host_ip = (port.host_ip or "0.0.0.0").strip("[]")
        bindings.setdefault(f"{port.container}/{port.protocol}", []).append(
            (host_ip, port.host or "")  # "": the engine picks a free host port
        )
    return bindings


def _networking_config(api: Any, spec: ContainerSpec, *more_aliases: str) -> Any:
    """The project network, with the service's name as alias (None: the default bridge)."""
    if not spec.network:
        return None
    aliases = [spec.service, *more_aliases]
    return api.create_networking_config({spec.network: api.create_endpoint_config(aliases=aliases)})


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
