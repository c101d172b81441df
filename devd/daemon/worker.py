"""A service's worker: it runs what the service's schedule started, one piece at a time, and
reports each outcome back to it (work that arrives meanwhile is folded into one follow-up);
while the engine is gone, work waits for it. The first success marks the service started
(its dependents may start); a first failure tells them it will not.
"""

from __future__ import annotations

import time
from dataclasses import replace

from devd.core.plan import Action, Work, manual
from devd.daemon.installing import Installing
from devd.daemon.rebuild import Rebuilding
from devd.daemon.runtime import ServiceRuntime
from devd.daemon.syncing import Syncing
from devd.errors import DevdError, EngineUnavailable
from devd.project import service_view


class Worker(Rebuilding, Syncing, Installing):
    """Does a service's work: sync, exec a dependency install, rebuild, or (image-only
    services) replace."""

    def _worker(self, runtime: ServiceRuntime) -> None:
        """Run what the schedule started, one piece at a time, until devd stops or the service
        is retired (both notify ``cond``); report each outcome back to the schedule. While the
        engine is gone, work waits for it (saves meanwhile fold into one follow-up)."""
        schedule = runtime.schedule
        while True:
            with runtime.cond:
                while (work := schedule.running) is None and not (
                    self.stop.is_set() or runtime.retired
                ):
                    runtime.cond.wait()
                if work is None or self.stop.is_set() or runtime.retired:
                    return
            ok = self.engine_watch.wait_up() and self._attempt(runtime, work)
            with runtime.cond:  # failed because the engine went? then it is redone when back
                runtime.outage_failed = not ok and not self.engine_watch.check()
                schedule.finished(ok)  # a follow-up, if any, is now schedule.running

    def _attempt(self, runtime: ServiceRuntime, work: Work) -> bool:
        """Do ``work``, reporting a failure; whether it succeeded. That the engine has gone
        is reported once, by the engine watch, not by every piece of work it fails; the work
        is in flight for the watch meanwhile (an engine that freezes under it is noticed)."""
        service = runtime.config.name
        try:
            with self.engine_watch.in_flight():
                return self._act(runtime, work)
        except EngineUnavailable as error:
            if self.engine_watch.check():
                self.out.error("failed", service=service, error=str(error))
        except DevdError as error:
            self.out.error("failed", service=service, error=str(error))
        except Exception as error:  # a worker must outlive any one failure
            self.out.error("failed unexpectedly", service=service, error=repr(error))
        return False

    def _act(self, runtime: ServiceRuntime, work: Work) -> bool:
        """Do ``work``; whether it succeeded. The first success marks the service started
        (its dependents may start); a first failure tells them it will not."""
        try:
            ok = self._do(runtime, work)
        except DevdError as error:
            self._first_start(runtime, False, str(error))
            raise
        self._first_start(runtime, ok, "its build failed")
        return ok

    def _do(self, runtime: ServiceRuntime, work: Work) -> bool:
        """Do ``work``; whether it succeeded (an invalid definition or a failed build: no).
        The cycle is recorded for devd doctor (manifest churn) after the work, off the path
        from save to running."""
        try:
            return self._do_work(runtime, work)
        finally:
            self.record.record_cycle(
                runtime.config.name,
                str(work.kind) if work.changes else "manual",
                [c.path for c in work.changes.values() if c.kind is work.kind],
            )

    def _do_work(self, runtime: ServiceRuntime, work: Work) -> bool:
        if work.reload_definition and not self._reload(runtime):
            return False
        running = runtime.container is not None and runtime.container.status == "running"
        with runtime.cond:
            anchor_down = runtime.anchor_down is not None
        if anchor_down:  # the container must be made again, joining its anchor started again
            work = replace(work, recreate=True)
        if work.action in (Action.SYNC, Action.SYNC_RESTART) and running and not anchor_down:
            if self._sync(runtime, work):
                return True
            # the copy could not be made: a rebuild puts the container right, even one the
            # image runs already (what the copy was refused for is in the container only)
            work = replace(work, action=Action.REBUILD, recreate=True)
        if work.action is Action.EXEC:
            instead = self._install(runtime, work)  # None: installed in the container
            if instead is None:
                return True
            work = instead
        if runtime.config.build:
            before, read_at = runtime.container, time.time()
            ok = self.rebuild_now(runtime, self._catching_up(runtime, work))
            self._caught_up(runtime, ok)
            after = runtime.container
            if ok and after is not None and (before is None or after.id != before.id):
                runtime.built_from = (after.id, read_at)
        else:
            ok = self._run_image(runtime, work)
        if ok and work.execs:  # sync+exec matched in a batch that rebuilt: compose runs it too
            self._run_execs(runtime, work.execs)
        return ok

    def _reload(self, runtime: ServiceRuntime) -> bool:
        try:
            runtime.view = service_view(self.project, runtime.config)
        except DevdError as error:
            self.out.error(
                "definition invalid; keeping the running container",
                service=runtime.config.name,
                error=str(error),
            )
            return False
        return True

    def _first_start(self, runtime: ServiceRuntime, ok: bool, reason: str) -> None:
        if runtime.started.is_set():
            return
        if not ok or runtime.container is None:
            runtime.start_failed = reason
            return
        runtime.start_failed = None
        runtime.started.set()
        self._initial_sync(runtime)
        name = runtime.config.name
        for other in list(self.services.values()):  # dependents that gave up: try again now
            needs = {d.service for d in other.config.depends_on}
            if other.start_failed is not None and name in needs:
                other.start_failed = None
                self._submit(other, manual(False, time.monotonic(), label=f"{name} started"))
