"""The one-shot commands: build, rebuild, down, status, logs, clean.

Each works only on what carries this project's devd labels. When ``devd up`` runs for the
project, ``rebuild`` asks it to do the work (SIGUSR1: rebuild without cache) and ``down`` /
``clean`` ask it to stop first (SIGTERM), so two processes never fight over one container.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterable

from devd.config import ProjectConfig
from devd.core.plan import manual
from devd.daemon.controller import ServiceController
from devd.daemon.names import container_name, image_tag
from devd.daemon.ports import DaemonEngine
from devd.daemon.replace import prepare_resources
from devd.daemon.stack import needed, start_order
from devd.daemon.supervisor import Supervisor
from devd.engine.engine import ContainerInfo, Engine
from devd.errors import BuildFailed, ConfigError, DevdError, DockerfileError
from devd.output import Output
from devd.state import BEHIND, BuildRecord, RunLock, request_rebuild, state_dir

REBUILD_SIGNAL = signal.SIGUSR1


def running_up(project: ProjectConfig) -> int | None:
    """The pid of this project's ``devd up``, if one runs."""
    return RunLock(state_dir(project.name, project.root), project.name).holder()


def select(project: ProjectConfig, names: Iterable[str]) -> list[str]:
    """The services named (all when none), checked against the configuration."""
    chosen = list(names) or list(project.services)
    unknown = [name for name in chosen if name not in project.services]
    if unknown:
        known = ", ".join(project.services)
        raise ConfigError(
            f"no service {unknown[0]!r} in project {project.name!r} (services: {known})"
        )
    return chosen


def build(
    project: ProjectConfig, engine: DaemonEngine, out: Output, services: list[str], no_cache: bool
) -> int:
    """``devd build``: build the images, start nothing. Exit 1 when a build fails."""
    supervisor = Supervisor(project, engine, out, follow=False)
    failed = 0
    for name in services:
        if not project.services[name].build:
            out.info("image-only service: nothing to build", service=name)
            continue
        controller = _prepare(supervisor, name, services)
        started = time.monotonic()
        try:
            result = controller.build_image(no_cache)
        except BuildFailed as error:
            controller.report_build_failure(manual(no_cache), error)
            failed += 1
            continue
        out.info(
            "built",
            service=name,
            image=image_tag(project.name, name),
            steps=result.summary,
            build_s=round(time.monotonic() - started, 2),
        )
        supervisor.record.write(name, ok=True, summary=result.summary, image=result.image_id)
        supervisor.sweeper.request(name, result.image_id)  # not started: removed at once
    return 1 if failed else 0


def rebuild(
    project: ProjectConfig, engine: DaemonEngine, out: Output, services: list[str], no_cache: bool
) -> int:
    """``devd rebuild``: build and replace the containers (through ``devd up`` when it runs).

    Without ``devd up``, services go in ``depends_on`` order: an image-only service is
    started from its image unless it runs, a dependent waits for its dependencies as at
    ``devd up``, and a dependency that does not run is started too. Only the services asked
    for and what they depend on are read (Dockerfile, ignore file): a broken unrelated
    service does not stop the command."""
    pid = running_up(project)
    if pid is not None and pid > 0:
        request_rebuild(state_dir(project.name, project.root), services)
        os.kill(pid, REBUILD_SIGNAL if no_cache else signal.SIGUSR2)
        out.info(
            "asked the running devd up to rebuild", pid=pid, no_cache=no_cache, services=services
        )
        return 0
    supervisor = Supervisor(project, engine, out, follow=False)
    scope = needed(project.services, services)  # an unrelated service's files are not read
    # nor its volumes: a missing external one stops nothing
    prepare_resources(engine.resources, project, scope)
    order = [name for name in start_order(project.services) if name in scope]
    running: set[str] = set()
    for name in order:
        controller = _prepare(supervisor, name, services)
        if controller.snapshot().container is not None:  # it runs: no waiting
            controller.mark_started()
            running.add(name)
    chosen = _with_dependencies(project, running, services)
    failed = 0
    for name in order:  # image-only services start from their image; dependents wait
        if name in chosen and not supervisor.run_work(name, manual(no_cache, time.monotonic())):
            failed += 1
    return 1 if failed else 0


def _prepare(supervisor: Supervisor, name: str, asked: list[str]) -> ServiceController:
    """``supervisor.prepare(name)``; a DockerfileError names the service, and the services
    asked for when ``name`` is only their dependency (its file is in the message already)."""
    try:
        return supervisor.prepare(name)
    except DockerfileError as error:
        if name not in asked:
            raise DockerfileError(
                f"service {name!r} (needed by {', '.join(asked)}): {error}"
            ) from error
        if f"service {name!r}" in str(error):  # e.g. its Dockerfile is missing
            raise
        raise DockerfileError(f"service {name!r}: {error}") from error


def _with_dependencies(project: ProjectConfig, running: set[str], names: Iterable[str]) -> set[str]:
    """``names`` and, through ``depends_on``, every service they need that does not run (as
    ``docker compose up SERVICE`` starts them)."""
    chosen: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in chosen:
            continue
        chosen.add(name)
        pending.extend(
            dependency.service
            for dependency in project.services[name].depends_on
            if dependency.service in project.services and dependency.service not in running
        )
    return chosen


def stop_running_up(project: ProjectConfig, out: Output) -> None:
    """Ask this project's ``devd up`` to stop, and wait until it has."""
    pid = running_up(project)
    if pid is None or pid <= 0:
        return
    out.info("stopping the running devd up", pid=pid)
    os.kill(pid, signal.SIGTERM)
    deadline = (
        time.monotonic() + max((s.stop_timeout for s in project.services.values()), default=10) + 10
    )
    while running_up(project) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    if running_up(project) is not None:
        raise DevdError(f"devd up (pid {pid}) did not stop; stop it with Ctrl-C in its terminal")


def down(project: ProjectConfig, engine: Engine, out: Output) -> int:
    """``devd down``: stop and remove this project's containers and their anchors, then its
    networks (not its named volumes, as compose keeps them); nothing that lacks the project's
    labels."""
    stop_running_up(project, out)
    containers = engine.containers.of_project(project.name)
    timeouts = {name: service.stop_timeout for name, service in project.services.items()}
    threads = [
        threading.Thread(target=_stop_and_remove, args=(engine, c, timeouts.get(c.service, 10.0)))
        for c in containers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    anchors = engine.anchors.remove(project.name)  # after the containers that join them
    networks = engine.resources.remove_networks(project.name)
    removed = [c.name for c in containers]
    out.info("down", project=project.name, removed=removed, anchors=anchors, networks=networks)
    return 0


def _stop_and_remove(engine: Engine, container: ContainerInfo, timeout: float) -> None:
    engine.containers.stop(container.id, timeout)
    engine.containers.remove(container.id)


def clean(project: ProjectConfig, engine: Engine, out: Output) -> int:
    """``devd clean``: ``down``, then remove every image this project's builds made and the
    project's named volumes (never an external one)."""
    down(project, engine, out)
    removed = engine.images.remove_project(project.name)
    external = [volume.name for volume in project.external_volumes]
    volumes = engine.resources.remove_volumes(project.name, keep=external)
    out.info("cleaned", project=project.name, images_removed=removed, volumes_removed=volumes)
    return 0


def status(project: ProjectConfig, engine: Engine) -> list[dict[str, object]]:
    """``devd status``: per service, its container, image and last build."""
    record = BuildRecord(state_dir(project.name, project.root)).read()
    containers = {c.service: c for c in engine.containers.of_project(project.name)}
    pid = running_up(project)
    rows: list[dict[str, object]] = []
    for name in project.services:
        container = containers.get(name)
        last = record.get(name, {})
        rows.append(
            {
                "service": name,
                "container": container.name
                if container
                else container_name(project.name, name, project.services[name].container_name),
                "state": _state(container),
                "image": container.image_id[7:19] if container else None,
                "builder": engine.builds.builder(project.services[name].builder)
                if project.services[name].build
                else None,
                "last_build": _last_build(last)
                if project.services[name].build
                else f"image-only: {project.services[name].image}",
                "last_build_at": last.get("at"),
                "devd_up": pid if pid and pid > 0 else None,
            }
        )
    return rows


def _state(container: ContainerInfo | None) -> str:
    if container is None:
        return "absent"
    if container.status == "exited":
        return f"exited ({container.exit_code})"
    return container.status


def _last_build(last: dict[str, object]) -> str:
    if not last:
        return "none recorded"
    if last.get("ok"):
        text = f"ok: {last.get('summary', '')}"
    else:
        text = f"failed: {last.get('error', '')}"
    return text + behind_note(last)


def behind_note(last: dict[str, object]) -> str:
    """``; behind: ...`` when the service's container holds a dependency exec its image
    lacks (:mod:`devd.daemon.installing`), else ``""``."""
    behind = last.get(BEHIND)
    if not isinstance(behind, dict):
        return ""
    paths = ", ".join(str(p) for p in behind.get("paths", [])) or "dependencies"
    return f"; behind: {paths} installed by exec, not in the image until the next rebuild"


def logs(
    project: ProjectConfig, engine: Engine, out: Output, services: list[str], follow: bool
) -> int:
    """``devd logs``: the containers' output, prefixed like ``devd up`` prints it."""
    containers = [c for c in engine.containers.of_project(project.name) if c.service in services]
    if not containers:
        out.info("no containers", project=project.name, services=services)
        return 0
    if not follow:
        for container in containers:
            for line in engine.logs.tail(container.id, lines=10_000):
                out.line(container.service, line)
        return 0
    threads = [
        threading.Thread(target=_print_logs, args=(engine, out, c), daemon=True) for c in containers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return 0


def _print_logs(engine: Engine, out: Output, container: ContainerInfo) -> None:
    for line in engine.logs.follow(container.id):
        out.line(container.service, line)
