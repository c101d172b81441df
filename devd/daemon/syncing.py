"""Syncing a service's code into its running container (``sync``, ``sync-restart``, the
develop.watch rules' ``initial_sync``) and running develop.watch ``sync+exec`` commands.
"""

from __future__ import annotations

import math
import os
import stat
import time
from pathlib import Path

from devd.config import ExecHook
from devd.core import rules
from devd.core.plan import Action, Work
from devd.daemon.follow import Following
from devd.daemon.runtime import ServiceRuntime
from devd.engine.files import Skipped
from devd.errors import DevdError, EngineUnavailable
from devd.project import files_under

CANNOT_SYNC = "cannot sync; rebuilding instead"
CLOCK_SLACK_S = 0.1
"""How much older than a build's context a file must be to count as in its image (the file
system's timestamps and the wall clock can differ by a tick)."""
SKIPPED = "not synced"


class Syncing(Following):
    """Copies saved files into a service's running container."""

    def _sync(self, runtime: ServiceRuntime, work: Work) -> bool:
        """Copy ``work``'s files into the running container (and restart it, for
        ``sync-restart``); False, said in one line, when the copy cannot be made (a symlink
        in the container on the way, the engine refusing it, the container gone): the caller
        rebuilds instead, which puts the container right whatever it holds; so it does when
        the container's anchor is stopped (said once). A file that cannot be read is named and
        left out; the rest is synced."""
        service = runtime.config
        container = runtime.container
        assert container is not None
        started = time.monotonic()
        files = _host_files(self.project.root, work)
        if _in_image(runtime, container.id, files):  # a save the rebuild before took up
            self.out.debug("already in the image", service=service.name, files=len(files))
            self._run_execs(runtime, work.execs)
            return True
        try:
            anchor = self.engine.anchors.stopped(container.id)
            if anchor is not None:  # the copy would land, unreachable: put the service right
                self.report_anchor_down(runtime, anchor)
                return False
            result = self.engine.files.put(container.id, files)
        except EngineUnavailable:
            raise  # the engine watch says it, and the work is redone when the engine is back
        except DevdError as error:
            self.out.warning(CANNOT_SYNC, service=service.name, error=str(error))
            return False
        synced = time.monotonic()
        self._report_skipped(runtime, result.skipped)
        if (
            work.action is Action.SYNC
            and not work.by_rules
            and (not result.changed or service.code_action == "sync-restart")
        ):
            # nothing new, or an early copy the final batch's sync-restart will report
            self.out.debug("copied", service=service.name, files=len(files), sent=result.changed)
            return True
        if work.action is Action.SYNC_RESTART:
            runtime.retiring.add(container.id)
            runtime.container = self.engine.containers.restart(container.id, service.stop_timeout)
            # the follow of the run before the restart takes the id out of ``retiring`` when
            # its stream ends, which can be after the restart: not here, or it reports an exit
            self._follow_once(runtime, runtime.container, again=True)
        done = time.monotonic()
        self.out.info(
            "synced",
            service=service.name,
            trigger=work.trigger,
            files=len(files),
            restarted=work.action is Action.SYNC_RESTART,
            sync_s=round(synced - started, 3),
            restart_s=round(done - synced, 2),
            total_s=round(done - (work.first_seen or started), 2),
        )
        self._run_execs(runtime, work.execs)
        return True

    def _report_skipped(self, runtime: ServiceRuntime, skipped: tuple[Skipped, ...]) -> None:
        """One line for each file a sync left out (put_files names each once per state)."""
        root = self.project.root
        for skip in skipped:
            path = skip.host.relative_to(root) if skip.host.is_relative_to(root) else skip.host
            self.out.warning(
                SKIPPED, service=runtime.config.name, path=str(path), reason=skip.reason
            )

    def _initial_sync(self, runtime: ServiceRuntime) -> None:
        """develop.watch ``initial_sync``: copy the rules' trees into the new container."""
        service, container = runtime.config, runtime.container
        if not service.watch or container is None:
            return
        root = self.project.root
        wanted = {i: r.path for i, r in enumerate(service.watch) if r.initial_sync}
        files = {index: files_under(root, path) for index, path in wanted.items()}
        copies = rules.initial_sync(service, runtime.view, str(root), files)
        if copies:
            result = self.engine.files.put(container.id, {c: root / p for c, p in copies.items()})
            self._report_skipped(runtime, result.skipped)
            self.out.info("initial sync", service=service.name, files=len(copies))

    def _run_execs(self, runtime: ServiceRuntime, hooks: tuple[ExecHook, ...]) -> None:
        """develop.watch ``sync+exec``: run each command in the container (as its rule's
        ``exec`` says: user, working dir, environment, privileged), report its exit."""
        container = runtime.container
        for hook in hooks:
            if container is None:
                return
            code, lines = self.engine.execs.run(container.id, hook)
            for line in lines:
                self.out.line(runtime.config.name, line, stream="exec")
            report = self.out.info if code == 0 else self.out.error
            report("exec", service=runtime.config.name, command=list(hook.command), exit_code=code)


def _in_image(runtime: ServiceRuntime, container_id: str, files: dict[str, Path | None]) -> bool:
    """Whether ``container_id`` was made by a rebuild that read every one of ``files`` as it
    is now (changed, by their ctime, before the build's context was read): then a sync, or a
    sync-restart, of them would only repeat that. A save held through an engine outage is
    rebuilt when the engine is back, and its sync, folded in behind, is not done again."""
    built = runtime.built_from
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
