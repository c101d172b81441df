"""One service's controller: the one owner of the service's live state and of its worker.

Everything devd knows of a running service — its configuration and build definition, its
container, its schedule (the work running and the one follow-up folded from the saves
meanwhile), whether it has started, what its container holds that its image lacks, the
followers of its output — is written here, under the controller's lock, and nowhere else.
The supervisor (:mod:`devd.daemon.supervisor`) and the other threads ask through the public
methods: :meth:`submit`, :meth:`reconfigure`, :meth:`retire`, :meth:`on_exit`,
:meth:`engine_back`, :meth:`stop`, :meth:`snapshot`.

The worker runs what the schedule started, one piece at a time, by calling the stateless
steps — build (:mod:`devd.daemon.rebuild`), sync (:mod:`devd.daemon.syncing`), dependency
exec (:mod:`devd.daemon.installing`), replace (:mod:`devd.daemon.replace`) — and applies
what each returns. Engine operations on the service's container (replace, restart, stop,
removal, recovery) take the controller's container lock, one at a time for this service
only: the services never wait for each other. What other services may know of this one (it
has started; its first start failed) goes through the board (:mod:`devd.daemon.board`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace

from devd.config import ProjectConfig, ServiceConfig
from devd.core.build_result import BuildResult
from devd.core.classify import BuildView
from devd.core.plan import Action, Work, manual
from devd.core.scheduler import ServiceSchedule
from devd.daemon import installing, rebuild, stack, syncing
from devd.daemon import replace as replacing
from devd.daemon.board import Board
from devd.daemon.early_stop import EarlyStop
from devd.daemon.follow import ANCHOR_STOPPED, Follower, say_exit
from devd.daemon.ports import DaemonEngine, EngineState, Reporter
from devd.daemon.sweeper import Sweeper
from devd.engine.container_spec import ContainerInfo
from devd.errors import BuildContextError, BuildFailed, ContainerGone, DevdError, EngineUnavailable
from devd.project import service_view
from devd.state import BuildRecord

WORKER_JOIN_S = 30.0
"""How long shutdown waits for a worker's work in hand (a build) before stopping anyway."""


@dataclass(frozen=True)
class Collaborators:
    """What the supervisor hands each controller: shared, and safe from any thread."""

    engine: DaemonEngine
    out: Reporter
    record: BuildRecord
    watch: EngineState
    board: Board
    sweeper: Sweeper
    stopping: threading.Event  # devd is stopping
    follow: bool = True  # print containers' output (one-shot commands turn it off)


@dataclass(frozen=True)
class ServiceSnapshot:
    """A service's state at one moment (``devd status``, planning, the tests)."""

    name: str
    config: ServiceConfig
    view: BuildView
    container: ContainerInfo | None
    busy: bool
    started: bool
    start_failed: str | None
    behind: str | None
    anchor_down: str | None
    followers: int  # live followers of the current container's output
    retired: bool


class ServiceController:
    """Owns one service's live state and its worker; see the module docstring."""

    def __init__(
        self,
        name: str,
        project: ProjectConfig,
        view: BuildView,
        container: ContainerInfo | None,
        behind: str | None,
        shared: Collaborators,
    ) -> None:
        """Service ``name`` of ``project``, its build definition ``view``, the container
        found running (adopted), and the container holding an exec its image lacks."""
        self.name = name
        self._shared = shared
        self._lock = threading.Condition()  # guards every field below
        self._project = project
        self._config = project.services[name]
        self._view = view
        self._container = container
        self._schedule = ServiceSchedule()
        self._retired = False
        self._outage_failed = False  # its last work failed because the engine had gone
        self._started = False  # first start done (its dependents may start)
        self._start_failed: str | None = None  # why its first start failed
        self._behind = behind  # the container holding a dependency exec its image lacks
        # the container the last rebuild made, and the wall time before its context was read
        self._built_from: tuple[str, float] | None = None
        self._anchor_down: str | None = None  # the anchor found stopped, said once
        self._building = False  # its image is being built (removals of superseded ones wait)
        self._builds = 0  # builds started (a removal stops when one starts)
        self._followed: str | None = None  # the container whose output is being printed
        self._followers: set[Follower] = set()  # live followers
        self._reporting: Follower | None = None  # the follower whose end is the app's own
        self._worker: threading.Thread | None = None
        # one engine operation on this service's container at a time (never another's)
        self._container_lock = threading.Lock()
        shared.board.join(name)
        shared.board.subscribe(self.dependency_started)

    # -- the public entry points -------------------------------------------------------------

    def start(self) -> None:
        """Start the worker."""
        self._worker = threading.Thread(target=self._work, name=f"worker-{self.name}", daemon=True)
        self._worker.start()

    def submit(self, work: Work) -> None:
        """Hand ``work`` to the worker: started at once when it is idle, else folded into the
        one follow-up it starts when the running work ends."""
        with self._lock:
            self._schedule.submit(work)
            self._lock.notify_all()

    def reconfigure(
        self,
        project: ProjectConfig,
        view: BuildView | None = None,
        recreate: bool = False,
    ) -> None:
        """A reloaded configuration: ``project`` from now on; with ``view``, the service's own
        settings and build definition too, and with ``recreate`` its container is made again."""
        with self._lock:
            self._project = project
            if view is not None:
                self._config, self._view = project.services[self.name], view
        if recreate:
            self.submit(
                manual(False, time.monotonic(), label="configuration changed", recreate=True)
            )

    def retire(self) -> threading.Thread:
        """The service was removed from the configuration: its worker ends after the work in
        hand (which replaces nothing any more), and a thread of its own, returned, stops and
        removes its container and anchor, then says so. Nothing else waits for it."""
        with self._lock:
            self._retired = True
            self._lock.notify_all()
        self._shared.board.leave(self.name)
        thread = threading.Thread(target=self._remove, name=f"retire-{self.name}", daemon=True)
        thread.start()
        return thread

    def on_exit(self, follower: Follower) -> None:
        """``follower``'s stream ended (the log thread calls this): when it follows the
        container's current run and devd is not stopping, restarting or replacing it, the
        container stopped by itself or was removed by hand: said in one line."""
        info = follower.container
        with self._lock:
            self._followers.discard(follower)
            if self._shared.stopping.is_set() or follower is not self._reporting:
                return  # devd's own doing, or a run that a newer one followed
        if not self._shared.watch.check():  # the engine went away, not the app
            return
        engine = self._shared.engine
        try:
            exit_code = engine.containers.wait(info.id, timeout=5)
            current = engine.containers.get(info.id)
        except ContainerGone:
            exit_code, current = None, None
        except DevdError as error:
            self.on_lost(follower, error)
            return
        gone = current is None or current.status == "removing"  # docker rm -f by hand
        with self._lock:
            if follower is not self._reporting:
                return  # a replace, restart or stop began meanwhile: its doing
            self._reporting = None
            if self._container is not None and self._container.id == info.id:
                self._container = None if gone else current  # gone: the next save rebuilds
            one_shot = stack.one_shot(self.name, self._project.services)
        shared = self._shared
        say_exit(shared.out, shared.engine.logs, self.name, info, exit_code, gone, one_shot)

    def on_lost(self, follower: Follower, error: DevdError) -> None:
        """``follower``'s stream failed: said, unless devd is stopping or the engine went."""
        with self._lock:
            self._followers.discard(follower)
        if not self._shared.stopping.is_set() and self._shared.watch.check():
            self._shared.out.error(
                "lost the container's output", service=self.name, error=str(error)
            )

    def engine_back(self) -> None:
        """The engine answers again: put the service right before held work goes on.

        Work the outage made fail is done again (the schedule folds it into the new work).
        A container that ran before the outage and does not now (an engine restart stops
        containers), or a second container labelled as the service's (a replace the outage
        cut short), has the service's container replaced, after a cached rebuild: replacing
        removes every container labelled as the service's, so there is exactly one. Work
        that failed for reasons of its own (a broken build) still waits for the next save. A
        container that runs (live-restore) gets its output followed again, unless its
        follower still reads it (the engine froze rather than stopped); one that had exited
        by itself before stays as it was. Raises EngineUnavailable if the engine goes
        again meanwhile (the watch then waits again).
        """
        with self._container_lock:
            with self._lock:
                known, project = self._container, self._project.name
            found = self._shared.engine.containers.of_project(project, self.name)
            current = next((c for c in found if known and c.id == known.id), None)
            with self._lock:
                self._container = current
                followed = current is not None and any(
                    f.container.id == current.id for f in self._followers
                )  # a frozen engine's stream goes on: no second follower
        ran = known is not None and known.status == "running"
        runs = current is not None and current.status == "running"
        strays = len(found) > (current is not None)  # a replace the outage cut short
        if runs and current is not None and not followed:
            self._follow(current, again=True)
        with self._lock:
            idle = not self._schedule.busy  # else its work, about to go on, does it
            owed = self._outage_failed and self._schedule.failed is not None
        if idle and (owed or (ran and not runs) or strays):
            self.submit(manual(False, time.monotonic(), label="engine back", recreate=strays))

    def stop(self) -> None:
        """devd is stopping: the worker ends after the work in hand. Returns at once."""
        with self._lock:
            self._lock.notify_all()

    def join(self, timeout: float = WORKER_JOIN_S) -> None:
        """Wait up to ``timeout`` seconds for the worker to end."""
        if self._worker is not None:
            self._worker.join(timeout)

    def stop_container(self) -> None:
        """Stop the service's container within its stop_timeout (devd is stopping)."""
        with self._container_lock:
            with self._lock:
                container, timeout = self._container, self._config.stop_timeout
                self._reporting = None
            if container is None:
                return
            try:
                self._shared.engine.containers.stop(container.id, timeout)
            except DevdError as error:
                self._shared.out.error(
                    "could not stop the container", service=self.name, error=str(error)
                )

    def snapshot(self) -> ServiceSnapshot:
        """The service's state now, as a frozen value."""
        with self._lock:
            current = self._container
            return ServiceSnapshot(
                name=self.name,
                config=self._config,
                view=self._view,
                container=current,
                busy=self._schedule.busy,
                started=self._started,
                start_failed=self._start_failed,
                behind=self._behind,
                anchor_down=self._anchor_down,
                followers=sum(
                    1 for f in self._followers if current and f.container.id == current.id
                ),
                retired=self._retired,
            )

    def anchor_stopped(self) -> None:
        """The engine says an anchor of this service stopped: if it is the one the container
        joins, and the engine is not going away (it stops every anchor then, and recovery
        puts them right), say so once. Never raises (the anchor watch calls it)."""
        if self._shared.stopping.is_set():
            return
        try:
            if not self._shared.watch.check():
                return
            with self._container_lock:  # a replace stops and removes anchors of its own accord
                with self._lock:
                    container = self._container
                anchor = container and self._shared.engine.anchors.stopped(container.id)
        except DevdError:
            return  # the engine went meanwhile: the engine watch says so
        if anchor:
            self._report_anchor_down(anchor)

    def dependency_started(self, service: str) -> None:
        """``service`` has started (the board says so): if this service gave up its first
        start because of it, try again now."""
        with self._lock:
            needs = {d.service for d in self._config.depends_on}
            if self._retired or self._start_failed is None or service not in needs:
                return
            self._start_failed = None
        self._shared.board.post_failed(self.name, None)
        self.submit(manual(False, time.monotonic(), label=f"{service} started"))

    def mark_started(self) -> None:
        """The container found running counts as started (``devd rebuild`` without
        ``devd up``: its dependents do not wait for it)."""
        with self._lock:
            self._started, container = True, self._container
        if container is not None:
            self._shared.board.post_started(self.name, container)

    def builds_started(self) -> int | None:
        """How many builds have started; None while one runs (the sweeper waits for it)."""
        with self._lock:
            return None if self._building else self._builds

    def run_now(self, work: Work) -> bool:
        """Do ``work`` in this thread, reporting a failure; whether it succeeded. That the
        engine has gone is reported once, by the engine watch, not by every piece of work it
        fails; the work is in flight for the watch meanwhile (an engine that freezes under
        it is noticed)."""
        out = self._shared.out
        try:
            with self._shared.watch.in_flight():
                return self._run_first_start(work)
        except EngineUnavailable as error:
            if self._shared.watch.check():
                out.error("failed", service=self.name, error=str(error))
        except DevdError as error:
            out.error("failed", service=self.name, error=str(error))
        except Exception as error:  # a worker must outlive any one failure
            out.error("failed unexpectedly", service=self.name, error=repr(error))
        return False

    def build_image(self, no_cache: bool) -> BuildResult:
        """Build the service's image (BuildFailed, BuildContextError). Once every Dockerfile
        step has succeeded and only writing the image is left (it will be a new one), the old
        container is stopped alongside (:mod:`devd.daemon.early_stop`), so the replace that
        follows only removes it; should the build still fail, it is started again."""
        shared = self._shared
        with self._lock:
            project, service, view, container = (
                self._project,
                self._config,
                self._view,
                self._container,
            )
            self._builds += 1
            self._building = True
        early = EarlyStop(
            shared.engine.containers,
            shared.out,
            self.name,
            container,
            service.stop_timeout,
            self._expect_stop,
            shared.stopping,
        )
        try:
            return rebuild.build_image(
                shared.engine, shared.out, project, service, view, no_cache, early.start
            )
        except BuildFailed:
            again = early.undo()
            if again is not None:
                self._set_container(again)
                self._follow(again, again=True)
            raise
        finally:
            early.join()
            with self._lock:
                self._building = False  # its image, if any, is tagged: no removal takes it
            shared.sweeper.wake()

    def report_build_failure(self, work: Work, error: BuildFailed | BuildContextError) -> None:
        """Say the build failed and whether the previous container still serves."""
        shared = self._shared
        with self._lock:
            current = self._container
        rebuild.report_build_failure(
            shared.engine.images,
            shared.engine.containers.get,
            shared.out,
            shared.record,
            shared.watch,
            self.name,
            current,
            work,
            error,
        )

    # -- the worker ------------------------------------------------------------------------

    def _work(self) -> None:
        """Run what the schedule started, one piece at a time, until devd stops or the service
        is retired; report each outcome back to the schedule. While the engine is gone, work
        waits for it (saves meanwhile fold into one follow-up)."""
        watch, stopping = self._shared.watch, self._shared.stopping
        while True:
            with self._lock:
                while (work := self._schedule.running) is None and not (
                    stopping.is_set() or self._retired
                ):
                    self._lock.wait()
                if work is None or stopping.is_set() or self._retired:
                    return
            ok = watch.wait_up() and self.run_now(work)
            outage = not ok and not watch.check()  # then it is redone when the engine is back
            with self._lock:
                self._outage_failed = outage
                self._schedule.finished(ok)  # a follow-up, if any, is now running

    def _run_first_start(self, work: Work) -> bool:
        """Do ``work``; the first success marks the service started (its dependents may
        start), a first failure tells them it will not."""
        try:
            ok = self._execute(work)
        except DevdError as error:
            self._settle_first_start(False, str(error))
            raise
        self._settle_first_start(ok, "its build failed")
        return ok

    def _execute(self, work: Work) -> bool:
        """Do ``work`` with the step it calls for: sync, dependency exec, rebuild, or (an
        image-only service) replace; whether it succeeded. The cycle is recorded for devd
        doctor (manifest churn) after the work, off the path from save to running."""
        try:
            return self._choose_step(work)
        finally:
            self._shared.record.record_cycle(
                self.name,
                str(work.kind) if work.changes else "manual",
                [c.path for c in work.changes.values() if c.kind is work.kind],
            )

    def _choose_step(self, work: Work) -> bool:
        if work.reload_definition and not self._read_definition():
            return False
        with self._lock:
            container, anchor_down, build = self._container, self._anchor_down, self._config.build
        running = container is not None and container.status == "running"
        if anchor_down is not None:  # the container must be made again, joining a new anchor
            work = replace(work, recreate=True)
        if work.action in (Action.SYNC, Action.SYNC_RESTART) and running and not anchor_down:
            assert container is not None
            if self._sync(work, container):
                return True
            # the copy could not be made: a rebuild puts the container right, even one the
            # image runs already (what the copy was refused for is in the container only)
            work = replace(work, action=Action.REBUILD, recreate=True)
        if work.action is Action.EXEC:
            instead = self._install(work, container)  # None: installed in the container
            if instead is None:
                return True
            work = instead
        ok = self._rebuild_tracked(work) if build else self._run_image(work)
        if ok and work.execs:  # sync+exec matched in a batch that rebuilt: compose runs it too
            self._run_execs(work)
        return ok

    def _read_definition(self) -> bool:
        """Read the service's build definition again (Dockerfile, ignore file)."""
        with self._lock:
            project, service = self._project, self._config
        try:
            view = service_view(project, service)
        except DevdError as error:
            self._shared.out.error(
                "definition invalid; keeping the running container",
                service=self.name,
                error=str(error),
            )
            return False
        with self._lock:
            self._view = view
        return True

    def _settle_first_start(self, ok: bool, reason: str) -> None:
        board = self._shared.board
        with self._lock:
            if self._started:
                return
            container = self._container
            if ok and container is not None:
                self._started, self._start_failed = True, None
            else:
                self._start_failed = reason
        if not ok or container is None:
            board.post_failed(self.name, reason)
            return
        board.post_started(self.name, container)  # dependents that gave up try again
        self._initial_sync(container)

    # -- the steps, applied ----------------------------------------------------------------

    def _rebuild_tracked(self, work: Work) -> bool:
        """A rebuild; the container it made remembers when the context was read (a later
        sync of a file unchanged since copies nothing), and a container behind its image
        is replaced whatever the image."""
        with self._lock:
            before, behind = self._container, self._behind
        read_at = time.time()
        ok = self._rebuild(installing.catching_up(work, behind))
        with self._lock:
            after, still_behind = self._container, self._behind
            if ok:
                self._behind = None
                if after is not None and (before is None or after.id != before.id):
                    self._built_from = (after.id, read_at)
        if not ok and still_behind is not None:
            installing.record_still_behind(self._shared.record, self.name, still_behind)
        return ok

    def _rebuild(self, work: Work) -> bool:
        """Build, and replace the container unless the image is the one it runs already."""
        out, record = self._shared.out, self._shared.record
        started = time.monotonic()
        rebuild.report_building(out, self.name, work)
        try:
            result = self.build_image(work.no_cache)
        except (BuildFailed, BuildContextError) as error:
            self.report_build_failure(work, error)
            return False
        built = time.monotonic()
        with self._lock:
            current = self._container
        if (
            current is not None
            and current.status == "running"
            and current.image_id == result.image_id
            and not work.recreate
        ):  # the build made the image the container runs already: it goes on serving
            rebuild.report_kept(out, self.name, work, result, build_s=round(built - started, 2))
            record.write(self.name, ok=True, summary=result.summary, image=result.image_id)
            self._follow(current)
            self._shared.sweeper.request(self.name, result.image_id)
            return True
        if not self._replace(result.image_id):
            return False
        record.write(self.name, ok=True, summary=result.summary, image=result.image_id)
        rebuild.report_running(out, self.name, work, result, started, built)
        self._shared.sweeper.request(self.name, result.image_id)  # one image generation kept
        return True

    def _replace(self, image_id: str) -> bool:
        """Replace the service's container with one of ``image_id`` (its first start waits
        for its dependencies); False when devd stops or the service is retired first."""
        shared = self._shared
        with self._lock:
            project, service, started = self._project, self._config, self._started
        spec = replacing.container_spec(project, service, image_id)
        if not started and not replacing.dependencies_ready(
            project,
            service,
            shared.board,
            shared.engine.containers,
            shared.stopping,
            shared.out,
        ):
            return False
        with self._container_lock:
            with self._lock:
                if shared.stopping.is_set() or self._retired:
                    return False
                self._reporting = None  # the old container's end is the replace's doing
            info = shared.engine.containers.replace(spec)
            with self._lock:
                self._anchor_down = None  # the replace started it again, or made a new one
            self._set_container(info)
        self._follow(info)
        return True

    def _run_image(self, work: Work) -> bool:
        """An image-only service: (re)start its container from its image, nothing built."""
        with self._lock:
            service, current = self._config, self._container
        started = time.monotonic()
        image_id = stack.image_of(service, self._shared.engine.images.id_of)
        running = current is not None and current.status == "running"
        if current is not None and running and current.image_id == image_id and not work.recreate:
            self._follow(current)
            return True
        if not self._replace(image_id):
            return False
        self._shared.out.info(
            "running",
            service=self.name,
            trigger=work.trigger,
            image=service.image,
            restart_s=round(time.monotonic() - started, 2),
        )
        return True

    def _sync(self, work: Work, container: ContainerInfo) -> bool:
        """Copy ``work``'s files into the running container (and restart it, for
        ``sync-restart``); False, said in one line, when the copy cannot be made (a symlink
        in the container on the way, the engine refusing it, the container gone): the
        caller rebuilds instead, which puts the container right whatever it holds; so it
        does when the container's anchor is stopped (said once). A file that cannot be read
        is named and left out; the rest is synced."""
        shared = self._shared
        with self._lock:
            root, service, built_from = self._project.root, self._config, self._built_from
        outcome = syncing.copy(shared.engine, root, container.id, work, built_from)
        if isinstance(outcome, syncing.InImage):  # a save the rebuild before took up
            shared.out.debug("already in the image", service=self.name, files=outcome.files)
            self._run_execs(work)
            return True
        if isinstance(outcome, syncing.AnchorDown):
            self._report_anchor_down(outcome.anchor)
            return False
        if isinstance(outcome, syncing.Refused):
            shared.out.warning(syncing.CANNOT_SYNC, service=self.name, error=outcome.error)
            return False
        syncing.report_skipped(shared.out, root, self.name, outcome.result.skipped)
        if syncing.quiet(work, service, outcome):
            sent = outcome.result.changed
            shared.out.debug("copied", service=self.name, files=outcome.files, sent=sent)
            return True
        if work.action is Action.SYNC_RESTART:
            self._restart(container)
        syncing.report_synced(shared.out, self.name, work, outcome)
        self._run_execs(work)
        return True

    def _install(self, work: Work, container: ContainerInfo | None) -> Work | None:
        """Exec ``work``'s dependency saves in the running container and restart it; None
        when done, else the rebuild that does the work instead (``fallback`` says why)."""
        shared = self._shared
        with self._lock:
            root, service, view = self._project.root, self._config, self._view

        def mark_behind(container_id: str) -> None:
            with self._lock:
                self._behind = container_id
            installing.record_behind(shared.record, self.name, container_id, work)

        outcome = installing.install(
            shared.engine, shared.out, root, service, view, container, work, mark_behind
        )
        if isinstance(outcome, Work):
            return outcome
        assert container is not None
        self._restart(container)
        installing.report_installed(shared.out, self.name, work, outcome)
        return None

    def _restart(self, container: ContainerInfo) -> None:
        """Restart the container (its output followed anew: the follower of the run before
        may see its stream end after the restart, and says nothing)."""
        with self._container_lock:
            with self._lock:
                self._reporting = None
                timeout = self._config.stop_timeout
            info = self._shared.engine.containers.restart(container.id, timeout)
            self._set_container(info)
        self._follow(info, again=True)

    def _run_execs(self, work: Work) -> None:
        with self._lock:
            container = self._container
        if container is not None and work.execs:
            shared = self._shared
            syncing.run_execs(shared.engine.execs, shared.out, self.name, container.id, work.execs)

    def _initial_sync(self, container: ContainerInfo) -> None:
        with self._lock:
            root, service, view = self._project.root, self._config, self._view
        shared = self._shared
        syncing.initial_sync(shared.engine.files, shared.out, root, service, view, container.id)

    def _remove(self) -> None:
        """The retired service's container and anchor go (its own thread: see :meth:`retire`)."""
        shared = self._shared
        with self._container_lock:  # a replace of this service in flight ends first
            with self._lock:
                container, project = self._container, self._project.name
                timeout = self._config.stop_timeout
                self._reporting = None
            if container is not None:
                try:
                    shared.engine.containers.stop(container.id, timeout)
                    shared.engine.containers.remove(container.id)
                except DevdError as error:  # the engine gone, say: devd up goes on
                    shared.watch.check()
                    shared.out.error("could not remove the service's container", error=str(error))
            try:  # made before its container: there may be one though no container is
                shared.engine.anchors.remove(project, self.name)
            except DevdError as error:
                shared.watch.check()
                shared.out.error("could not remove the service's anchor", error=str(error))
        shared.out.info("service removed", service=self.name)

    # -- state the steps report back -------------------------------------------------------

    def _set_container(self, info: ContainerInfo) -> None:
        """The service's container is ``info`` now (the board hears of it once started)."""
        with self._lock:
            self._container = info
            started = self._started
        if started:
            self._shared.board.post_started(self.name, info)

    def _expect_stop(self) -> None:
        """devd is about to stop the container itself: its end is not the app's."""
        with self._lock:
            self._reporting = None

    def _follow(self, info: ContainerInfo, again: bool = False) -> None:
        """Start printing ``info``'s output unless already (``again``: it was restarted)."""
        if not self._shared.follow:
            return
        follower = Follower(info, self.name)
        with self._lock:
            if self._followed == info.id and not again:
                return
            self._followed = info.id
            self._followers.add(follower)
            self._reporting = follower
        follower.start(self._shared.engine.logs, self._shared.out, self)

    def _report_anchor_down(self, anchor: str) -> None:
        """Say that the service's anchor ``anchor`` does not run: once, until a new container
        is in place (:meth:`_replace` forgets it)."""
        with self._lock:
            if self._anchor_down == anchor:
                return
            self._anchor_down = anchor
        self._shared.out.error(ANCHOR_STOPPED, service=self.name, anchor=anchor)
