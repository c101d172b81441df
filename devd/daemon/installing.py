"""Installing a dependency save in the running container (``dependency_action = "exec"``):
copy the saved files where the image has them, re-run the Dockerfile's install step there
(:mod:`devd.dependency_exec` decides whether and how), restart the container, and mark its
image *behind*: the container holds what the image does not yet.

The image catches up on the next rebuild (a rebuild-class save, ``devd rebuild``, the next
``devd up``), which then always replaces the container: even an image equal to the one the
container started from would not have what the exec installed. There is no background
catch-up build: a service builds one thing at a time, so it would hold every save made
meanwhile for the whole install (the very wait the exec saves), and the container, already
right, would gain nothing from it.

Whatever goes wrong — a step the decision declines, the container not running, a file that
cannot be copied, the command failing — the work becomes the rebuild it stands in for, with
the reason in its cycle line; a failure after files were copied replaces the container even
from an unchanged image.
"""

from __future__ import annotations

import stat
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from devd.core import dependency_exec
from devd.core.dependency_exec import Declined, DependencyExec
from devd.core.plan import Action, Work
from devd.daemon.follow import Following
from devd.daemon.runtime import ServiceRuntime
from devd.errors import DevdError, EngineUnavailable
from devd.state import BEHIND, BuildRecord


class Installing(Following):
    """Answers a dependency save by exec'ing the install step in the running container."""

    record: BuildRecord

    def _install(self, runtime: ServiceRuntime, work: Work) -> Work | None:
        """Exec ``work``'s dependency saves in the running container; None when done, else
        the rebuild that does the work instead (``fallback`` says why)."""
        container = runtime.container
        if container is None or container.status != "running":
            return _rebuild(work, "the container is not running")
        decision = dependency_exec.decide(
            work.changes.values(), runtime.view, runtime.config.code_action
        )
        if isinstance(decision, Declined):
            return _rebuild(work, decision.reason)
        problem = self._unplaceable(container.id, decision)
        if problem is not None:
            return _rebuild(work, problem)
        defaults = self.engine.execs.image_defaults(decision.base_image)
        if defaults is None:
            return _rebuild(work, f"the base image {decision.base_image} is not in the engine")
        started = time.monotonic()
        self.out.info(
            "installing",
            service=runtime.config.name,
            trigger=work.trigger,
            step=f"{runtime.view.dockerfile_path}:{decision.line}",
            command=decision.command,
        )
        self._mark_behind(runtime, container.id, work)
        try:
            code = self._run(runtime, container.id, decision, defaults.user, defaults.env)
        except EngineUnavailable:
            raise  # the engine watch says so; the work is redone (as a rebuild) when back
        except DevdError as error:
            return _rebuild(work, f"the exec failed: {error}", recreate=True)
        if code != 0:
            return _rebuild(work, f"the exec exited {code}", recreate=True)
        ran = time.monotonic()
        self._restart(runtime)
        done = time.monotonic()
        self.out.info(
            "installed",
            service=runtime.config.name,
            trigger=work.trigger,
            step=f"{runtime.view.dockerfile_path}:{decision.line}",
            image=BEHIND,
            exec_s=round(ran - started, 2),
            restart_s=round(done - ran, 2),
            total_s=round(done - (work.first_seen or started), 2),
        )
        return None

    def _unplaceable(self, container_id: str, decision: DependencyExec) -> str | None:
        """Why the files cannot be put where the step sees them (None: they can): a bind
        mount of a directory or of a file that is gone, a mount target the container holds."""
        root = self.project.root
        kept = {path for path, _ in decision.copies}
        for target, path in decision.mounts:
            try:
                mode = (root / path).lstat().st_mode
            except OSError:
                return f"the bind-mounted {path} cannot be read"
            if not stat.S_ISREG(mode):
                return f"the bind-mounted {path} is not a file (exec mounts single files)"
            if target not in kept and self.engine.files.exists(container_id, target):
                return f"the bind mount's target {target} exists in the container"
        return None

    def _run(
        self,
        runtime: ServiceRuntime,
        container_id: str,
        decision: DependencyExec,
        base_user: str,
        base_env: Mapping[str, str],
    ) -> int | None:
        """Copy the files in, run the step, take the bind mounts' files out again."""
        root = self.project.root
        files: dict[str, Path | None] = {}
        for target, path in (*decision.mounts, *decision.copies):
            host = root / path
            files[target] = host if host.exists() or host.is_symlink() else None
        self.engine.files.put(container_id, files)
        name = runtime.config.name
        try:
            return self.engine.execs.run_step(
                container_id,
                decision.argv,
                user=decision.user or base_user or "0",
                workdir=decision.workdir,
                environment=decision.environment(base_env),
                on_line=lambda line: self.out.line(name, line, stream="build"),
            )
        finally:
            if decision.removals():
                self.engine.files.put(container_id, dict.fromkeys(decision.removals()))

    def _restart(self, runtime: ServiceRuntime) -> None:
        container = runtime.container
        assert container is not None
        runtime.retiring.add(container.id)
        runtime.container = self.engine.containers.restart(
            container.id, runtime.config.stop_timeout
        )
        # as for sync-restart: the follower of the run before takes the id out of retiring
        self._follow_once(runtime, runtime.container, again=True)

    def _mark_behind(self, runtime: ServiceRuntime, container_id: str, work: Work) -> None:
        """Record that the container holds what its image lacks (``devd status`` shows it;
        the next rebuild replaces the container even from an unchanged image)."""
        runtime.behind = container_id
        name = runtime.config.name
        last = dict(self.record.read().get(name, {}))
        last.pop("at", None)
        paths = sorted(c.path for c in work.changes.values())
        last[BEHIND] = {"container": container_id, "paths": paths[:5], "count": len(paths)}
        self.record.write(name, **last)

    def _catching_up(self, runtime: ServiceRuntime, work: Work) -> Work:
        """``work`` (a rebuild) for a service whose container is behind its image: it
        replaces the container whatever the image."""
        return work if runtime.behind is None else replace(work, recreate=True)

    def _caught_up(self, runtime: ServiceRuntime, ok: bool) -> None:
        """After a rebuild: the image caught up (``ok``), or the container is still behind
        and the record, which the failed build rewrote, says so again."""
        if ok:
            runtime.behind = None
        elif runtime.behind is not None:
            name = runtime.config.name
            last = dict(self.record.read().get(name, {}))
            if BEHIND not in last:
                self.record.write(
                    name,
                    **{k: v for k, v in last.items() if k != "at"},
                    **{BEHIND: {"container": runtime.behind, "paths": [], "count": 0}},
                )


def _rebuild(work: Work, reason: str, recreate: bool = False) -> Work:
    return replace(work, action=Action.REBUILD, fallback=reason, recreate=work.recreate or recreate)
