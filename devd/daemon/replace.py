"""Replacing a service's container: its spec from the configuration, the project's network and
volumes, the dependencies its first start waits for (``depends_on``), and image-only services
(compose ``image:`` without ``build:``), whose container is started from their image.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection

from devd import envfile
from devd.config import ServiceConfig
from devd.core.plan import Work
from devd.daemon import stack
from devd.daemon.follow import Following
from devd.daemon.runtime import DaemonParts, ServiceRuntime, container_name
from devd.engine.engine import ContainerInfo


class Replacing(Following):
    """Replaces a service's container; ``_replace_lock`` keeps replacing and shutdown apart."""

    _replace_lock: threading.Lock

    def prepare_resources(self, services: Collection[str] | None = None) -> None:
        """Create (or reuse) the project's network and named volumes, devd's labels on them,
        once every external volume is known to exist (ExternalVolumeMissing: nothing made).
        With ``services``, only the volumes those services mount are checked and made."""
        stack.check_external_volumes(self.project, self.engine.resources.volume_exists, services)
        if self.project.network is not None:
            self.engine.resources.ensure_network(self.project.network, self.project.name)
        used = None if services is None else stack.volumes_mounted(self.project, services)
        for volume in self.project.volumes:
            if used is None or volume in used:
                self.engine.resources.ensure_volume(volume, self.project.name)

    def _replace(self, runtime: ServiceRuntime, image_id: str) -> bool:
        service = runtime.config
        spec = stack.container_spec(
            self.project,
            service,
            name=container_name(self.project.name, service.name, service.container_name),
            image=image_id,
            environment=self._environment(service),
        )
        if not runtime.started.is_set() and not self._dependencies_ready(runtime):
            return False
        with self._replace_lock:
            if self.stop.is_set():
                return False
            if runtime.container is not None and runtime.container.status == "running":
                runtime.retiring.add(runtime.container.id)  # an exited one has no follower
            info = self.engine.containers.replace(spec)
            runtime.container = info
        with runtime.cond:
            runtime.anchor_down = None  # the replace started it again, or made a new one
        self._follow_once(runtime, info)
        return True

    def _environment(self, service: ServiceConfig) -> dict[str, str]:
        values: dict[str, str] = {}
        if service.env_file is not None:
            values.update(envfile.read(service.env_file, f"services.{service.name}.env_file"))
        values.update(service.environment)
        return values

    def _run_image(self, runtime: ServiceRuntime, work: Work) -> bool:
        """An image-only service: (re)start its container from its image, nothing built."""
        service = runtime.config
        started = time.monotonic()
        image_id = stack.image_of(service, self.engine.images.id_of)
        current = runtime.container
        running = current is not None and current.status == "running"
        if current is not None and running and current.image_id == image_id and not work.recreate:
            self._follow_once(runtime, current)
            return True
        if not self._replace(runtime, image_id):
            return False
        self.out.info(
            "running",
            service=service.name,
            trigger=work.trigger,
            image=service.image,
            restart_s=round(time.monotonic() - started, 2),
        )
        return True

    def _dependencies_ready(self, runtime: ServiceRuntime) -> bool:
        """Before a service's first start: wait for what it depends on (False: devd stops)."""
        if not runtime.config.depends_on:
            return True
        waits = stack.Waits(_Probe(self), self.stop, time.monotonic, self.project.services)
        names = [d.service for d in runtime.config.depends_on]
        self.out.info("waiting for dependencies", service=runtime.config.name, on=names)
        return waits.ready(runtime.config)


class _Probe:
    """What the dependency waits (devd.stack) see of the running services."""

    def __init__(self, daemon: DaemonParts) -> None:
        self.daemon = daemon

    def started(self, service: str) -> ContainerInfo | None:
        runtime = self.daemon.services.get(service)
        return runtime.container if runtime is not None and runtime.started.is_set() else None

    def failed(self, service: str) -> str | None:
        runtime = self.daemon.services.get(service)
        return runtime.start_failed if runtime is not None else "it is not configured"

    def inspect(self, container_id: str) -> ContainerInfo | None:
        return self.daemon.engine.containers.get(container_id)
