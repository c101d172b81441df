"""The build step: build a service's image with its builder, pulling missing base images first,
and tag it as compose does; and what follows a build: the lines reporting a failed one (with
whether the previous container still serves), removing the layers a failed build made, and
removing the images a build superseded (the sweeper's work, :mod:`devd.daemon.sweeper`).

Stateless: each function takes what it uses and returns (or raises) what happened; the
service's controller (:mod:`devd.daemon.controller`) applies it to the service's state.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import docker.auth

from devd.config import ProjectConfig, ServiceConfig
from devd.core import builders
from devd.core.build_result import BuildResult
from devd.core.builders import Builder
from devd.core.classify import BuildView
from devd.core.dockerfile import step_lines
from devd.core.plan import Work
from devd.daemon.names import image_tag
from devd.daemon.ports import DaemonEngine, EngineState, ImageClient, Reporter, TransportClient
from devd.daemon.sweeper import Remover
from devd.engine.build_source import BuildSource
from devd.engine.container_spec import ContainerInfo, image_labels
from devd.errors import BuildContextError, BuildFailed, DevdError
from devd.state import BuildRecord


def build_image(
    engine: DaemonEngine,
    out: Reporter,
    project: ProjectConfig,
    service: ServiceConfig,
    view: BuildView,
    no_cache: bool,
    on_labels: Callable[[], None] | None = None,
) -> BuildResult:
    """Build the service's image with its builder (BuildFailed, BuildContextError when it
    cannot). ``on_labels`` is the engine's hook for the moment only writing the image is
    left. A compose service with ``image:`` as well as ``build:`` has the image tagged with
    that name too, as compose tags it."""
    builder = engine.builds.builder(service.builder)
    _check_builder(engine.transport, view, builder)
    on_line: Callable[[str], None] | None = None
    if project.verbose:
        on_line = lambda line: out.line(service.name, line, stream="build")  # noqa: E731
    # BuildKit resolves a base only through a session; the classic builder pulls it itself,
    # but its failure is raw engine text: devd pulls first, under both.
    _pull_missing_bases(engine.images, view.dockerfile.base_images(view.target))
    source = BuildSource(
        service.context,
        service.dockerfile,
        tuple(view.ignore_rules.patterns),
        project.name,
        service.name,
        secrets=service.secrets,
        ssh=service.ssh,
    )
    try:
        result = engine.builds.build(
            source,
            tag=image_tag(project.name, service.name),
            labels=image_labels(project.name, service.name),
            build_args=service.build_args,
            target=service.target,
            no_cache=no_cache,
            builder=builder,
            network=service.build_network,
            lines=step_lines(view.dockerfile),
            on_line=on_line,
            on_labels=on_labels,
        )
    except BuildFailed as error:
        frontend = builders.frontend_failure(view.dockerfile, view.dockerfile_path, str(error))
        if error.step is None and frontend is not None:
            raise BuildFailed(f"build failed: {frontend}") from error
        raise
    if service.image and "@" not in service.image:  # compose's build + image: tag it so
        engine.images.tag(result.image_id, service.image)
    return result


def _check_builder(transport: TransportClient, view: BuildView, builder: Builder) -> None:
    """Refuse, in one line naming the Dockerfile line, a feature ``builder`` lacks."""
    asks_frontend = builder == "buildkit" and builders.asks_frontend(view.dockerfile)
    major = transport.major_version() if asks_frontend else None
    problems = builders.unsupported(view.dockerfile, builder, major)
    if problems:
        raise BuildFailed(f"build failed: {problems[0].message(view.dockerfile_path)}")


def _pull_missing_bases(store: ImageClient, images: tuple[str, ...]) -> None:
    """Pull each base image that is not in the engine's store (one line naming the image
    when it cannot be had)."""
    for image in images:
        if store.id_of(image) is not None:
            continue
        reason = store.pull(image)
        if reason is not None:
            raise BuildFailed(f"build failed: {pull_failure(image, reason)}")


def report_build_failure(
    images: ImageClient,
    containers: Callable[[str], ContainerInfo | None],
    out: Reporter,
    record: BuildRecord,
    watch: EngineState | None,
    service: str,
    current: ContainerInfo | None,
    work: Work,
    error: BuildFailed | BuildContextError,
) -> None:
    """Say the build failed and whether the previous container (``current``) still serves
    (asked of the engine, through ``containers``: an outage or an early stop may have ended
    it); then remove the layers the failed build made."""
    record.write(service, ok=False, error=str(error))
    output = error.output if isinstance(error, BuildFailed) else ()
    for line in output:
        out.line(service, line, stream="build")
    kept = False
    if current is not None and (watch is None or watch.check()):
        with contextlib.suppress(DevdError):
            now = containers(current.id)
            kept = now is not None and now.status == "running"
    out.error(
        "build failed; previous container still running" if kept else "build failed",
        service=service,
        trigger=work.trigger,
        step=error.step if isinstance(error, BuildFailed) else None,
        error=str(error),
    )
    drop_failed_build(images, out, service, error)  # after the message: it is not news


def drop_failed_build(images: ImageClient, out: Reporter, service: str, error: DevdError) -> None:
    """Remove the layers a failed build made: each failure would leave a dangling image."""
    if not isinstance(error, BuildFailed) or not error.created_images:
        return
    try:
        images.remove_failed_build(error.created_images)
    except DevdError as problem:
        out.warning("failed build's images kept", service=service, error=str(problem))


def superseded_remover(images: ImageClient, out: Reporter, project: str) -> Remover:
    """The sweeper's work: remove the images of a service that ``image_id`` superseded
    (asking ``proceed`` before each); never raises."""

    def remove(service: str, image_id: str, proceed: Callable[[], bool]) -> None:
        started = time.monotonic()
        try:
            removed = images.remove_superseded(project, service, image_id, proceed=proceed)
        except DevdError as error:
            out.warning("superseded images kept", service=service, error=str(error))
            return
        except Exception as error:  # the sweeper must outlive any one failure
            out.error("removing superseded images failed", service=service, error=repr(error))
            return
        if removed:
            out.debug(
                "superseded images removed",
                service=service,
                count=len(removed),
                remove_s=round(time.monotonic() - started, 3),
            )

    return remove


_UNREACHABLE = ("no such host", "dial tcp", "connection refused", "i/o timeout", "no route")
_REFUSED = ("unauthorized", "authentication required", "denied", "no basic auth credentials")


def pull_failure(image: str, reason: str) -> str:
    """One line for a base image the engine does not have and could not pull: whether its
    registry could not be reached, refused the credentials, or said something else."""
    registry = docker.auth.resolve_repository_name(image)[0]
    said = reason.lower()
    if any(mark in said for mark in _UNREACHABLE):
        why = f"the registry {registry} cannot be reached"
        fix = f"pull or load {image} into the engine (docker pull / docker load) where it can"
    elif any(mark in said for mark in _REFUSED):
        why = f"the registry {registry} refused the credentials"
        fix = f"docker login {registry} (devd reads your Docker config)"
    else:
        why = f"pulling it from {registry} failed"
        fix = "check the image's name and tag"
    return f"base image {image!r} is not in the engine's image store and {why} ({reason}); {fix}"


def report_building(out: Reporter, service: str, work: Work) -> None:
    """The line a build starts with."""
    out.info(
        "building",
        service=service,
        trigger=work.trigger,
        no_cache=work.no_cache,
        **instead_of_exec(work),
    )


def report_kept(
    out: Reporter, service: str, work: Work, result: BuildResult, build_s: float
) -> None:
    """The cycle line of a build that made the image the container runs already."""
    out.info(
        "image unchanged; container kept",
        service=service,
        trigger=work.trigger,
        steps=result.summary,
        build_s=build_s,
        **_session_bytes(result),
    )


def report_running(
    out: Reporter, service: str, work: Work, result: BuildResult, started: float, built: float
) -> None:
    """The cycle line of a rebuild whose new container runs now (``started``: when the build
    began, ``built``: when it ended)."""
    done = time.monotonic()
    out.info(
        "running",
        service=service,
        trigger=work.trigger,
        kind=str(work.kind) if work.changes else "start",
        steps=result.summary,
        rebuilt=[step.instruction for step in result.rebuilt],
        build_s=round(built - started, 2),
        restart_s=round(done - built, 2),
        total_s=round(done - (work.first_seen or started), 2),
        **instead_of_exec(work),
        **_session_bytes(result),
    )


def instead_of_exec(work: Work) -> dict[str, str]:
    """The cycle line's ``not_exec`` field: why a dependency exec was rebuilt instead."""
    return {"not_exec": work.fallback} if work.fallback else {}


def _session_bytes(result: BuildResult) -> dict[str, int]:
    """The event fields ``session_bytes`` and ``file_bytes``: what the build's BuildKit
    session sent (all of it; the files' contents), if it had one."""
    if result.session_bytes is None or result.file_bytes is None:
        return {}
    return {"session_bytes": result.session_bytes, "file_bytes": result.file_bytes}
