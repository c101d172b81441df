"""Rebuilding a service: build its image (stopping the old container early once only the label
steps are left), replace the container unless it runs that image already, keep one image
generation (the sweeper, :mod:`devd.sweeper`, removes the older ones in the background), and
report a failed build with whether the previous container still serves.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import docker.auth

from devd.core import builders
from devd.core.builders import Builder
from devd.core.dockerfile import step_lines
from devd.core.plan import Work
from devd.daemon.early_retire import EarlyRetire
from devd.daemon.replace import Replacing
from devd.daemon.runtime import ServiceRuntime, image_tag
from devd.daemon.sweeper import Sweeper
from devd.engine.build_source import BuildSource
from devd.engine.container_spec import image_labels
from devd.engine.engine import BuildResult, ContainerInfo
from devd.errors import BuildContextError, BuildFailed, DevdError
from devd.state import BuildRecord


class Rebuilding(Replacing):
    """Builds a service's image and puts it into service; ``record`` keeps the last builds."""

    record: BuildRecord
    sweeper: Sweeper

    def rebuild_now(self, runtime: ServiceRuntime, work: Work) -> bool:
        """Build, and replace the container unless the image is the one it runs already."""
        service = runtime.config
        started = time.monotonic()
        self.out.info(
            "building",
            service=service.name,
            trigger=work.trigger,
            no_cache=work.no_cache,
            **_instead_of_exec(work),
        )
        try:
            result = self.build_image(runtime, work.no_cache)
        except (BuildFailed, BuildContextError) as error:
            self.report_build_failure(runtime, work, error)
            return False
        built = time.monotonic()
        current = runtime.container
        if (
            current is not None
            and current.status == "running"
            and current.image_id == result.image_id
            and not work.recreate
        ):
            self._keep(runtime, current, work, result, build_s=round(built - started, 2))
            return True
        if not self._replace(runtime, result.image_id):
            return False
        done = time.monotonic()
        self.record.write(service.name, ok=True, summary=result.summary, image=result.image_id)
        self.out.info(
            "running",
            service=service.name,
            trigger=work.trigger,
            kind=str(work.kind) if work.changes else "start",
            steps=result.summary,
            rebuilt=[step.instruction for step in result.rebuilt],
            build_s=round(built - started, 2),
            restart_s=round(done - built, 2),
            total_s=round(done - (work.first_seen or started), 2),
            **_instead_of_exec(work),
            **_session_bytes(result),
        )
        self.drop_superseded(service.name, result.image_id)
        return True

    def _keep(
        self,
        runtime: ServiceRuntime,
        current: ContainerInfo,
        work: Work,
        result: BuildResult,
        build_s: float,
    ) -> None:
        """The build made the image the container runs already: it goes on serving."""
        service = runtime.config
        self.out.info(
            "image unchanged; container kept",
            service=service.name,
            trigger=work.trigger,
            steps=result.summary,
            build_s=build_s,
            **_session_bytes(result),
        )
        self.record.write(service.name, ok=True, summary=result.summary, image=result.image_id)
        self._follow_once(runtime, current)
        self.drop_superseded(service.name, result.image_id)

    def build_image(self, runtime: ServiceRuntime, no_cache: bool) -> BuildResult:
        """Build the service's image with its builder. Once every Dockerfile step has
        succeeded and only writing the image is left (it will be a new one), the old
        container is stopped alongside, so the replace that follows only removes it; should
        the build still fail, the old container is started again. A compose service with
        ``image:`` as well as ``build:`` has the image tagged with that name too, as compose
        tags it."""
        service, view = runtime.config, runtime.view
        builder = self.engine.builds.builder(service.builder)
        self._check_builder(runtime, builder)
        on_line: Callable[[str], None] | None = None
        if self.project.verbose:
            on_line = lambda line: self.out.line(service.name, line, stream="build")  # noqa: E731
        retire = EarlyRetire(self, runtime)
        runtime.builds += 1
        runtime.building = True
        try:
            # BuildKit resolves a base only through a session; the classic builder pulls it
            # itself, but its failure is raw engine text: devd pulls first, under both.
            self._pull_missing_bases(view.dockerfile.base_images(view.target))
            source = BuildSource(
                service.context,
                service.dockerfile,
                tuple(view.ignore_rules.patterns),
                self.project.name,
                service.name,
                secrets=service.secrets,
                ssh=service.ssh,
            )
            result = self.engine.builds.build(
                source,
                tag=image_tag(self.project.name, service.name),
                labels=image_labels(self.project.name, service.name),
                build_args=service.build_args,
                target=service.target,
                no_cache=no_cache,
                builder=builder,
                network=service.build_network,
                lines=step_lines(view.dockerfile),
                on_line=on_line,
                on_labels=retire.start,
            )
        except BuildFailed as error:
            retire.undo()
            frontend = builders.frontend_failure(view.dockerfile, view.dockerfile_path, str(error))
            if error.step is None and frontend is not None:
                raise BuildFailed(f"build failed: {frontend}") from error
            raise
        finally:
            retire.join()
            runtime.building = False  # its image, if any, is tagged: no removal takes it
            self.sweeper.wake()
        if service.image and "@" not in service.image:  # compose's build + image: tag it so
            self.engine.images.tag(result.image_id, service.image)
        return result

    def _check_builder(self, runtime: ServiceRuntime, builder: Builder) -> None:
        """Refuse, in one line naming the Dockerfile line, a feature ``builder`` lacks."""
        view = runtime.view
        asks_frontend = builder == "buildkit" and builders.asks_frontend(view.dockerfile)
        major = self.engine.transport.major_version() if asks_frontend else None
        problems = builders.unsupported(view.dockerfile, builder, major)
        if problems:
            raise BuildFailed(f"build failed: {problems[0].message(view.dockerfile_path)}")

    def _pull_missing_bases(self, images: tuple[str, ...]) -> None:
        """Pull each base image that is not in the engine's store (one line naming the image
        when it cannot be had)."""
        for image in images:
            if self.engine.images.id_of(image) is not None:
                continue
            reason = self.engine.images.pull(image)
            if reason is not None:
                raise BuildFailed(f"build failed: {pull_failure(image, reason)}")

    def report_build_failure(
        self, runtime: ServiceRuntime, work: Work, error: BuildFailed | BuildContextError
    ) -> None:
        """Say the build failed and whether the previous container still serves (asked of the
        engine: an outage or an early stop may have ended it)."""
        service = runtime.config.name
        self.record.write(service, ok=False, error=str(error))
        output = error.output if isinstance(error, BuildFailed) else ()
        for line in output:
            self.out.line(service, line, stream="build")
        current = runtime.container
        kept = False
        if current is not None and self.engine_watch.check():
            with contextlib.suppress(DevdError):
                now = self.engine.containers.get(current.id)
                kept = now is not None and now.status == "running"
        self.out.error(
            "build failed; previous container still running" if kept else "build failed",
            service=service,
            trigger=work.trigger,
            step=error.step if isinstance(error, BuildFailed) else None,
            error=str(error),
        )
        self._drop_failed_build(service, error)  # after the message: it is not news

    def drop_superseded(self, service: str, image_id: str) -> None:
        """Keep one image generation: have the images this build superseded removed (by the
        sweeper, off the path of the next save's work)."""
        self.sweeper.request(service, image_id)

    def remove_superseded(self, service: str, image_id: str, proceed: Callable[[], bool]) -> None:
        """Remove the images ``image_id`` superseded (the sweeper's work; never raises)."""
        started = time.monotonic()
        try:
            removed = self.engine.images.remove_superseded(
                self.project.name, service, image_id, proceed=proceed
            )
        except DevdError as error:
            self.out.warning("superseded images kept", service=service, error=str(error))
            return
        except Exception as error:  # the sweeper must outlive any one failure
            self.out.error("removing superseded images failed", service=service, error=repr(error))
            return
        if removed:
            self.out.debug(
                "superseded images removed",
                service=service,
                count=len(removed),
                remove_s=round(time.monotonic() - started, 3),
            )

    def builds(self, service: str) -> int | None:
        """How many builds of ``service`` have started; None while one runs (the sweeper
        waits for it)."""
        runtime = self.services.get(service)
        if runtime is None:
            return 0
        return None if runtime.building else runtime.builds

    def _drop_failed_build(self, service: str, error: DevdError) -> None:
        """Remove the layers a failed build made: each failure would leave a dangling image."""
        if not isinstance(error, BuildFailed) or not error.created_images:
            return
        try:
            self.engine.images.remove_failed_build(error.created_images)
        except DevdError as problem:
            self.out.warning("failed build's images kept", service=service, error=str(problem))


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


def _instead_of_exec(work: Work) -> dict[str, str]:
    """The cycle line's ``not_exec`` field: why a dependency exec was rebuilt instead."""
    return {"not_exec": work.fallback} if work.fallback else {}


def _session_bytes(result: BuildResult) -> dict[str, int]:
    """The event fields ``session_bytes`` and ``file_bytes``: what the build's BuildKit
    session sent (all of it; the files' contents), if it had one."""
    if result.session_bytes is None or result.file_bytes is None:
        return {}
    return {"session_bytes": result.session_bytes, "file_bytes": result.file_bytes}
