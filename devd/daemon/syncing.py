"""The sync step: copying a service's saved code into its running container (``sync``,
``sync-restart``, the develop.watch rules' ``initial_sync``), and running develop.watch
``sync+exec`` commands.

Stateless: :func:`copy` returns what happened (:data:`SyncOutcome`); the service's
controller (:mod:`devd.daemon.controller`) restarts the container when the work says so and
applies the outcome to the service's state.
"""

from __future__ import annotations

import math
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from devd.config import ExecHook, ServiceConfig
from devd.core import rules
from devd.core.classify import BuildView
from devd.core.plan import Action, Work
from devd.daemon.ports import DaemonEngine, ExecClient, FileClient, Reporter
from devd.engine.files import Skipped, SyncResult
from devd.errors import DevdError, EngineUnavailable
from devd.project import files_under

CANNOT_SYNC = "cannot sync; rebuilding instead"
CLOCK_SLACK_S = 0.1
"""How much older than a build's context a file must be to count as in its image (the file
system's timestamps and the wall clock can differ by a tick)."""
SKIPPED = "not synced"


@dataclass(frozen=True)
class InImage:
    """Every file is in the image the container was built from already: nothing copied."""

    files: int


@dataclass(frozen=True)
class AnchorDown:
    """The container's anchor is stopped: a copy would land unreachable."""

    anchor: str


@dataclass(frozen=True)
class Refused:
    """The copy cannot be made (a symlink on the way, the engine refusing, the container
    gone); ``error`` says why."""

    error: str


@dataclass(frozen=True)
class Copied:
    """The files were copied in: ``result`` says what changed and what was left out."""

    files: int
    result: SyncResult
    started: float
    synced: float


SyncOutcome = InImage | AnchorDown | Refused | Copied


def copy(
    engine: DaemonEngine,
    root: Path,
    container_id: str,
    work: Work,
    built_from: tuple[str, float] | None,
) -> SyncOutcome:
    """Copy ``work``'s files into the running container ``container_id``. ``built_from`` is
    the container the last rebuild made and the wall time its context was read.
    EngineUnavailable propagates: the work is redone when the engine is back."""
    started = time.monotonic()
    files = _host_files(root, work)
    if _in_image(built_from, container_id, files):  # a save the rebuild before took up
        return InImage(len(files))
    try:
        anchor = engine.anchors.stopped(container_id)
        if anchor is not None:  # the copy would land, unreachable: put the service right
            return AnchorDown(anchor)
        result = engine.files.put(container_id, files)
    except EngineUnavailable:
        raise  # the engine watch says it, and the work is redone when the engine is back
    except DevdError as error:
        return Refused(str(error))
    return Copied(len(files), result, started, time.monotonic())


def quiet(work: Work, service: ServiceConfig, copied: Copied) -> bool:
    """Whether the copy is not worth a line: nothing new, or an early copy the final batch's
    sync-restart will report."""
    return (
        work.action is Action.SYNC
        and not work.by_rules
        and (not copied.result.changed or service.code_action == "sync-restart")
    )


def report_synced(out: Reporter, service: str, work: Work, copied: Copied) -> None:
    """The cycle line of a sync (restarted or not)."""
    done = time.monotonic()
    out.info(
        "synced",
        service=service,
        trigger=work.trigger,
        files=copied.files,
        restarted=work.action is Action.SYNC_RESTART,
        sync_s=round(copied.synced - copied.started, 3),
        restart_s=round(done - copied.synced, 2),
        total_s=round(done - (work.first_seen or copied.started), 2),
    )


def report_skipped(out: Reporter, root: Path, service: str, skipped: tuple[Skipped, ...]) -> None:
    """One line for each file a sync left out (put_files names each once per state)."""
    for skip in skipped:
        path = skip.host.relative_to(root) if skip.host.is_relative_to(root) else skip.host
        out.warning(SKIPPED, service=service, path=str(path), reason=skip.reason)


def initial_sync(
    files: FileClient,
    out: Reporter,
    root: Path,
    service: ServiceConfig,
    view: BuildView,
    container_id: str,
) -> None:
    """develop.watch ``initial_sync``: copy the rules' trees into the new container."""
    if not service.watch:
        return
    wanted = {i: r.path for i, r in enumerate(service.watch) if r.initial_sync}
    trees = {index: files_under(root, path) for index, path in wanted.items()}
    copies = rules.initial_sync(service, view, str(root), trees)
    if copies:
        result = files.put(container_id, {c: root / p for c, p in copies.items()})
        report_skipped(out, root, service.name, result.skipped)
        out.info("initial sync", service=service.name, files=len(copies))


def run_execs(
    execs: ExecClient, out: Reporter, service: str, container_id: str, hooks: tuple[ExecHook, ...]
) -> None:
    """develop.watch ``sync+exec``: run each command in the container (as its rule's
    ``exec`` says: user, working dir, environment, privileged), report its exit."""
    for hook in hooks:
        code, lines = execs.run(container_id, hook)
        for line in lines:
            out.line(service, line, stream="exec")
        report = out.info if code == 0 else out.error
        report("exec", service=service, command=list(hook.command), exit_code=code)


def _in_image(
    built: tuple[str, float] | None, container_id: str, files: dict[str, Path | None]
) -> bool:
    """Whether ``container_id`` was made by a rebuild (``built``: its container and when its
    context was read) that read every one of ``files`` as it is now (changed, by their
    ctime, before the build's context was read): then a sync, or a sync-restart, of them
    would only repeat that. A save held through an engine outage is rebuilt when the engine
    is back, and its sync, folded in behind, is not done again."""
    if built is None or built[0] != container_id or not files:
        return False
    for host in files.values():
        try:
            changed = os.lstat(host).st_ctime if host is not None else math.inf
        except OSError:
            return False
        if changed > built[1] - CLOCK_SLACK_S:
            return False
    return True


def _host_files(root: Path, work: Work) -> dict[str, Path | None]:
    """Each container path ``work`` syncs and its host file, None for one that is gone. A
    directory is left out (a new one's files are in the batch themselves); a path that
    cannot even be looked at is kept, for put_files to name."""
    files: dict[str, Path | None] = {}
    for destination, path in work.sync_files().items():
        host = root / path
        try:
            status = os.lstat(host)
        except (FileNotFoundError, NotADirectoryError):
            files[destination] = None
            continue
        except OSError:
            status = None
        if status is None or not stat.S_ISDIR(status.st_mode):
            files[destination] = host
    return files
