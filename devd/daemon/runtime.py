"""What the parts of the daemon share: each service's live state (:class:`ServiceRuntime`),
the names devd gives a service's image and container, and :class:`DaemonParts`, the base of
the daemon's mixins (:mod:`devd.follow`, :mod:`devd.replace`, :mod:`devd.rebuild`,
:mod:`devd.syncing`, :mod:`devd.worker`, :mod:`devd.reload`, :mod:`devd.recovery`), which
hands work to a service's worker and starts the daemon's threads.

Each mixin declares the attributes it uses beyond these; :class:`devd.daemon.Daemon` sets
them all.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from devd.config import ProjectConfig, ServiceConfig
from devd.core.classify import BuildView
from devd.core.plan import Work
from devd.core.scheduler import ServiceSchedule
from devd.engine.engine import ContainerInfo, Engine
from devd.output import Output
from devd.project import service_view
from devd.state import BuildRecord


def image_tag(project: str, service: str) -> str:
    return f"devd-{project}-{service.lower()}:latest"


def container_name(project: str, service: str, given: str | None = None) -> str:
    """The name of ``service``'s container: ``given`` (compose's container_name), else
    ``<project>-<service>``."""
    return given or f"{project}-{service}"


@dataclass
class ServiceRuntime:
    """One service's live state; ``cond`` guards ``schedule``, ``following`` and
    ``anchor_down``."""

    config: ServiceConfig
    view: BuildView
    container: ContainerInfo | None = None
    schedule: ServiceSchedule = field(default_factory=ServiceSchedule)
    cond: threading.Condition = field(default_factory=threading.Condition)
    retiring: set[str] = field(default_factory=set)  # containers devd itself is stopping
    followed: str | None = None  # the container whose output is being printed
    building: bool = False  # its image is being built (removals of superseded ones wait)
    builds: int = 0  # builds started (a removal stops when one starts)
    following: Counter[str] = field(default_factory=Counter)  # live followers per container
    retired: bool = False  # removed from the configuration while devd up runs
    outage_failed: bool = False  # its last work failed because the engine had gone
    started: threading.Event = field(default_factory=threading.Event)  # first start done
    start_failed: str | None = None  # why the first start failed (its dependents give up)
    behind: str | None = None  # the container holding a dependency exec its image lacks
    # the container the last rebuild made, and the wall time before its context was read:
    # a file unchanged since is in it already (written by the worker only)
    built_from: tuple[str, float] | None = None
    anchor_down: str | None = None  # the anchor found stopped, said once (its next work recreates)


class DaemonParts:
    """The daemon's services and the engine they run on; the threads it started."""

    project: ProjectConfig
    engine: Engine
    out: Output
    services: dict[str, ServiceRuntime]
    record: BuildRecord
    _threads: list[threading.Thread]
    _threads_lock: threading.Lock

    def prepare(self, name: str) -> ServiceRuntime:
        """Read service ``name``'s build definition and find its container, if it has one."""
        service = self.project.services[name]
        runtime = ServiceRuntime(service, service_view(self.project, service))
        runtime.container = self._existing_container(name)
        if runtime.container is not None and self.record.behind(name) == runtime.container.id:
            runtime.behind = (
                runtime.container.id
            )  # an exec of the last devd up: a rebuild catches up
        self.services[name] = runtime
        return runtime

    def _existing_container(self, service: str) -> ContainerInfo | None:
        """A container left by an earlier ``devd up``: adopted if the fresh image matches."""
        found = self.engine.containers.of_project(self.project.name, service)
        running = [c for c in found if c.status == "running"]
        return running[0] if len(found) == 1 and running else None

    def _submit(self, runtime: ServiceRuntime, work: Work) -> None:
        """Hand ``work`` to the service's worker: started at once when it is idle, else folded
        into the one follow-up it starts when the running work ends."""
        with runtime.cond:
            runtime.schedule.submit(work)
            runtime.cond.notify_all()

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        with self._threads_lock:  # a log follower per container: forget the ended ones
            self._threads = [alive for alive in self._threads if alive.is_alive()]
            self._threads.append(thread)
        thread.start()
