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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from devd.config import ServiceConfig
from devd.core import dependency_exec
from devd.core.classify import BuildView
from devd.core.dependency_exec import Declined, DependencyExec
from devd.core.plan import Action, Work
from devd.daemon.ports import DaemonEngine, FileClient, Reporter
from devd.engine.container_spec import ContainerInfo
from devd.errors import DevdError, EngineUnavailable
from devd.state import BEHIND, BuildRecord


@dataclass(frozen=True)
class Installed:
    """The install step ran in the container and exited 0; the container is to be restarted.
    ``step`` names the Dockerfile line; ``started``/``ran``: when the exec began and ended."""

    step: str
    started: float
    ran: float


def install(
    engine: DaemonEngine,
    out: Reporter,
    root: Path,
    service: ServiceConfig,
    view: BuildView,
    container: ContainerInfo | None,
    work: Work,
    mark_behind: Callable[[str], None],
) -> Installed | Work:
    """Exec ``work``'s dependency saves in the running container: :class:`Installed`, or the
    rebuild that does the work instead (``fallback`` says why). ``mark_behind`` is called
    with the container's id just before the step runs: from then on the container holds what
    its image lacks."""
    if container is None or container.status != "running":
        return _rebuild(work, "the container is not running")
    decision = dependency_exec.decide(work.changes.values(), view, service.code_action)
    if isinstance(decision, Declined):
        return _rebuild(work, decision.reason)
    problem = _unplaceable(engine.files, root, container.id, decision)
    if problem is not None:
        return _rebuild(work, problem)
    defaults = engine.execs.image_defaults(decision.base_image)
    if defaults is None:
        return _rebuild(work, f"the base image {decision.base_image} is not in the engine")
    started = time.monotonic()
    step = f"{view.dockerfile_path}:{decision.line}"
    out.info(
        "installing",
        service=service.name,
        trigger=work.trigger,
        step=step,
        command=decision.command,
    )
    mark_behind(container.id)
    try:
        code = _run(
            engine, out, root, service.name, container.id, decision, defaults.user, defaults.env
        )
    except EngineUnavailable:
        raise  # the engine watch says so; the work is redone (as a rebuild) when back
    except DevdError as error:
        return _rebuild(work, f"the exec failed: {error}", recreate=True)
    if code != 0:
        return _rebuild(work, f"the exec exited {code}", recreate=True)
    return Installed(step, started, time.monotonic())


def report_installed(out: Reporter, service: str, work: Work, installed: Installed) -> None:
    """The cycle line of a dependency exec, once the container is restarted."""
    done = time.monotonic()
    out.info(
        "installed",
        service=service,
        trigger=work.trigger,
        step=installed.step,
        image=BEHIND,
        exec_s=round(installed.ran - installed.started, 2),
        restart_s=round(done - installed.ran, 2),
        total_s=round(done - (work.first_seen or installed.started), 2),
    )


def _unplaceable(
    files: FileClient, root: Path, container_id: str, decision: DependencyExec
) -> str | None:
    """Why the files cannot be put where the step sees them (None: they can): a bind
    mount of a directory or of a file that is gone, a mount target the container holds."""
    kept = {path for path, _ in decision.copies}
    for target, path in decision.mounts:
        try:
            mode = (root / path).lstat().st_mode
        except OSError:
            return f"the bind-mounted {path} cannot be read"
        if not stat.S_ISREG(mode):
            return f"the bind-mounted {path} is not a file (exec mounts single files)"
        if target not in kept and files.exists(container_id, target):
            return f"the bind mount's target {target} exists in the container"
    return None


def _run(
    engine: DaemonEngine,
    out: Reporter,
    root: Path,
    service: str,
    container_id: str,
    decision: DependencyExec,
    base_user: str,
    base_env: Mapping[str, str],
) -> int | None:
    """Copy the files in, run the step, take the bind mounts' files out again."""
    files: dict[str, Path | None] = {}
    for target, path in (*decision.mounts, *decision.copies):
        host = root / path
        files[target] = host if host.exists() or host.is_symlink() else None
    engine.files.put(container_id, files)
    try:
        return engine.execs.run_step(
            container_id,
            decision.argv,
            user=decision.user or base_user or "0",
            workdir=decision.workdir,
            environment=decision.environment(base_env),
            on_line=lambda line: out.line(service, line, stream="build"),
        )
    finally:
        if decision.removals():
            engine.files.put(container_id, dict.fromkeys(decision.removals()))


def record_behind(record: BuildRecord, service: str, container_id: str, work: Work) -> None:
    """Record that the container holds what its image lacks (``devd status`` shows it;
    the next rebuild replaces the container even from an unchanged image)."""
    last = dict(record.read().get(service, {}))
    last.pop("at", None)
    paths = sorted(c.path for c in work.changes.values())
    last[BEHIND] = {"container": container_id, "paths": paths[:5], "count": len(paths)}
    record.write(service, **last)


def catching_up(work: Work, behind: str | None) -> Work:
    """``work`` (a rebuild) for a service whose container is ``behind`` its image: it
    replaces the container whatever the image."""
    return work if behind is None else replace(work, recreate=True)


def record_still_behind(record: BuildRecord, service: str, behind: str) -> None:
    """After a failed rebuild: the container is still behind, and the record, which the
    failed build rewrote, says so again."""
    last = dict(record.read().get(service, {}))
    if BEHIND not in last:
        record.write(
            service,
            **{k: v for k, v in last.items() if k != "at"},
            **{BEHIND: {"container": behind, "paths": [], "count": 0}},
        )


def _rebuild(work: Work, reason: str, recreate: bool = False) -> Work:
    return replace(work, action=Action.REBUILD, fallback=reason, recreate=work.recreate or recreate)
