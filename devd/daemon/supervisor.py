"""The loop of ``devd up``: startup → iterate → shutdown.

- **startup**: take the project's run lock, read each service's build definition, give each
  service its controller (:mod:`devd.daemon.controller`), which builds its image and starts
  (or adopts) its container, and start watching the tree;
- **iterate**: each batch of changed paths is planned per service (:mod:`devd.core.rules`):
  ignored changes do nothing, code changes rebuild or sync, dependency and Dockerfile changes
  rebuild; the work goes to the service's controller, whose worker does it one piece at a
  time (work that arrives while it is busy is folded into one follow-up, so the container
  always ends on the last save). A changed configuration is read again and applied as a diff
  (:mod:`devd.daemon.reload`, :mod:`devd.core.configdiff`): only what changed is touched;
- **shutdown**: on Ctrl-C/SIGTERM, stop watching, let running work end, stop the project's
  containers within their stop_timeout, then its anchors.

The supervisor alone owns the project's configuration, the controllers, the batch queue, the
sweeper (:mod:`devd.daemon.sweeper`: superseded images removed in the background, off the
path from a save to its container running) and the engine watch
(:mod:`devd.daemon.enginewatch`). When the engine goes away, devd says so once, keeps
watching, and holds the work saves ask for until the engine answers again; then each
controller puts its service right (:meth:`ServiceController.engine_back`).
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterable

from devd.config import ProjectConfig
from devd.core import configdiff, rules
from devd.core.plan import Work, manual
from devd.daemon import reload, stack
from devd.daemon.anchorwatch import AnchorWatch
from devd.daemon.board import Board
from devd.daemon.controller import Collaborators, ServiceController
from devd.daemon.enginewatch import EngineWatch
from devd.daemon.ports import DaemonEngine, Reporter
from devd.daemon.rebuild import superseded_remover
from devd.daemon.remote_ports import RemotePorts
from devd.daemon.replace import prepare_resources
from devd.daemon.sweeper import Sweeper
from devd.engine.anchors import AnchorStopped
from devd.engine.container_spec import ContainerInfo
from devd.engine.engine import engine_address
from devd.errors import DevdError, EngineUnavailable
from devd.project import service_view
from devd.state import BuildRecord, RunLock, state_dir
from devd.watch import Batch, watch

# A batch quiet this long is handed over early (not final) for sync services to copy at once:
# an editor's save is over within a millisecond or two, the quiet period (debounce_ms) is for
# bursts such as a checkout, and the final batch still does the rest (see watch()).
SETTLE_MS = 3
# How long shutdown waits, once the containers are stopped, for the superseded images still
# being removed (a removal takes 20-100 ms; what is left then stays for the next build).
SWEEP_WAIT_S = 5.0


class Supervisor:
    """``devd up`` for one project; see the module docstring. ``loader`` re-reads the
    configuration (live reload; None: no reload); ``follow``: print containers' output (the
    one-shot commands turn it off)."""

    def __init__(
        self,
        project: ProjectConfig,
        engine: DaemonEngine,
        output: Reporter,
        loader: Callable[[], ProjectConfig] | None = None,
        follow: bool = True,
        remote_ports: RemotePorts | None = None,
    ) -> None:
        self.project = project  # rebound by the loop's thread only (a reload)
        self.remote_ports = remote_ports  # a remote engine's: said, forwarded over ssh
        self.loader = loader
        self.engine = engine
        self.out = output
        self.stopping = threading.Event()
        self.batches: queue.Queue[Batch | None] = queue.Queue()
        self.record = BuildRecord(state_dir(project.name, project.root))
        self.run_lock = RunLock(state_dir(project.name, project.root), project.name)
        self.board = Board()
        self.sweeper = Sweeper(
            superseded_remover(engine.images, output, project.name), self._builds
        )
        self.engine_watch = EngineWatch(
            engine.transport.unreachable,
            output,
            engine_address(os.environ),
            self.engine_back,
            self.stopping,
        )
        self.anchor_watch = AnchorWatch(
            lambda: engine.anchors.stops(project.name),
            self.anchor_stopped,
            self.engine_watch,
            self.stopping,
        )
        self._shared = Collaborators(
            engine, output, self.record, self.engine_watch, self.board, self.sweeper,
            self.stopping, follow,
        )  # fmt: skip
        self._lock = threading.Lock()  # guards the two maps below (other threads read them)
        self._controllers: dict[str, ServiceController] = {}
        self._retiring: dict[str, threading.Thread] = {}  # removals of retired services
        self._threads: list[threading.Thread] = []

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> int:
        self.run_lock.acquire()
        try:
            self.startup()
            self.iterate()
        finally:
            self.shutdown()
            self.run_lock.release()
        return 0

    def startup(self) -> None:
        stack.start_order(self.project.services)  # rejects unknown dependencies and cycles
        stack.check_images(self.project, self.engine.images.id_of)
        prepare_resources(self.engine.resources, self.project)
        for name in self.project.services:
            self.prepare(name)
        self.sweeper.start()
        for controller in self.controllers():
            controller.submit(manual(no_cache=False, now=time.monotonic(), label="start"))
            controller.start()
        self._spawn("watch", self._watch)
        self._spawn("anchor-events", self.anchor_watch.run)  # anchors stopped by hand
        if self.remote_ports is not None:  # where the published ports answer
            self.remote_ports.update(self.project)
        self.out.info(
            "watching",
            project=self.project.name,
            root=str(self.project.root),
            services=[c.name for c in self.controllers()],
            builders={
                name: self.engine.builds.builder(service.builder)
                for name, service in self.project.services.items()
                if service.build
            },
        )

    def iterate(self) -> None:
        while not self.stopping.is_set():
            batch = self.batches.get()
            if batch is None:
                break
            self.handle(batch)

    def shutdown(self) -> None:
        self.request_stop()
        for controller in self.controllers():
            controller.join()
        with self._lock:
            removals = list(self._retiring.values())
        for removal in removals:
            removal.join()
        stoppers = [
            threading.Thread(target=controller.stop_container, daemon=True)
            for controller in self.controllers()
        ]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join()
        try:
            self.engine.anchors.stop_all(self.project.name)
        except DevdError as error:
            self.out.error("could not stop the anchors", error=str(error))
        if self.remote_ports is not None:
            self.remote_ports.close()
        if not self.sweeper.join(SWEEP_WAIT_S):
            self.out.debug("left superseded images for the next build to remove")
        self.out.info("stopped", project=self.project.name)

    # -- asked from other threads ----------------------------------------------------------

    def request_stop(self) -> None:
        """Ask the loop to end (signal handlers call this); safe from any thread."""
        self.stopping.set()
        self.engine_watch.wake()
        self.engine.anchors.close_stops()
        self.sweeper.close()
        self.batches.put(None)
        for controller in self.controllers():
            controller.stop()

    def request_rebuild(self, no_cache: bool, services: Iterable[str] | None = None) -> None:
        """Rebuild ``services`` (default: every one) now (``devd rebuild``, a key)."""
        names = None if services is None else set(services)
        for controller in self.controllers():
            if names is None or controller.name in names:
                controller.submit(manual(no_cache, time.monotonic()))

    def status(self) -> None:
        """Print each service's state (a key in the terminal asks for it)."""
        record = self.record.read()
        for controller in self.controllers():
            snap = controller.snapshot()
            try:
                known = snap.container
                container = known and self.engine.containers.get(known.id)
            except EngineUnavailable:
                self.engine_watch.check()
                container, absent = None, "unknown: the engine does not answer"
            else:
                absent = "absent"
            last = record.get(snap.name, {})
            self.out.info(
                "status",
                service=snap.name,
                state=container.status if container else absent,
                image=container.image_id[7:19] if container else None,
                builder=self.engine.builds.builder(snap.config.builder),
                last_build=("ok: " + str(last.get("summary")))
                if last.get("ok")
                else last.get("error"),
                behind=snap.behind is not None,
                busy=snap.busy,
            )

    def engine_back(self) -> None:
        """The engine answers again: each controller puts its service right (raises
        EngineUnavailable if it goes again meanwhile: the watch then waits again)."""
        for controller in self.controllers():
            controller.engine_back()

    def anchor_stopped(self, stopped: AnchorStopped) -> None:
        """The engine says an anchor of the project stopped: its service's controller judges."""
        controller = self.controller(stopped.service)
        if controller is not None:
            controller.anchor_stopped()

    # -- the services ----------------------------------------------------------------------

    def controllers(self) -> list[ServiceController]:
        """The services' controllers, in the configuration's order (a copy: safe to iterate)."""
        with self._lock:
            return list(self._controllers.values())

    def controller(self, name: str) -> ServiceController | None:
        with self._lock:
            return self._controllers.get(name)

    def prepare(self, name: str) -> ServiceController:
        """Read service ``name``'s build definition, find its container if it has one, and
        give it its controller (its worker not started)."""
        service = self.project.services[name]
        view = service_view(self.project, service)
        container = self._existing_container(name)
        # an exec of the last devd up: a rebuild catches up
        behind = container.id if container and self.record.behind(name) == container.id else None
        controller = ServiceController(name, self.project, view, container, behind, self._shared)
        with self._lock:
            self._controllers[name] = controller
        return controller

    def run_work(self, name: str, work: Work) -> bool:
        """Do ``work`` for service ``name`` now, in this thread (one-shot commands); whether
        it succeeded (a failure is reported)."""
        controller = self.controller(name)
        assert controller is not None
        return controller.run_now(work)

    def _existing_container(self, service: str) -> ContainerInfo | None:
        """A container left by an earlier ``devd up``: adopted if the fresh image matches."""
        found = self.engine.containers.of_project(self.project.name, service)
        running = [c for c in found if c.status == "running"]
        return running[0] if len(found) == 1 and running else None

    def _builds(self, service: str) -> int | None:
        """How many builds of ``service`` have started; None while one runs (the sweeper
        waits for it)."""
        controller = self.controller(service)
        return 0 if controller is None else controller.builds_started()

    # -- planning -------------------------------------------------------------------------

    def handle(self, batch: Batch) -> None:
        """One batch of changed paths: an early look at a batch still open lets sync
        services copy their code changes at once; a final one reloads a changed
        configuration first, then gives each service the work it plans."""
        root = str(self.project.root)
        if not batch.final:
            for controller in self.controllers():
                snap = controller.snapshot()
                work = rules.plan_early(batch.paths, snap.config, snap.view, root, batch.first_seen)
                if not work.empty:
                    controller.submit(work)
            return
        if self.loader is not None and batch.paths & reload.config_paths(self.project):
            with self.engine_watch.in_flight():
                self.reload_configuration()
            if self.remote_ports is not None:
                self.remote_ports.update(self.project)
        root = str(self.project.root)
        for controller in self.controllers():
            snap = controller.snapshot()
            work = rules.plan_batch(batch.paths, snap.config, snap.view, root, now=batch.first_seen)
            if work.empty:
                self.out.debug("ignored", service=snap.name, paths=sorted(batch.paths)[:10])
            else:
                controller.submit(work)

    def _relevant(self, path: str) -> bool:
        """Whether a changed path could matter to any service (the watcher drops the rest)."""
        if self.loader is not None and path in reload.config_paths(self.project):
            return True
        root = str(self.project.root)
        snaps = [c.snapshot() for c in self.controllers()]
        return any(rules.relevant(path, s.config, s.view, root) for s in snaps)

    def _prunable(self, directory: str) -> bool:
        """Whether no service can care about anything under ``directory`` (it gets no watch)."""
        if self.loader is not None and any(
            path.startswith(directory + "/") for path in reload.config_paths(self.project)
        ):
            return False
        root = str(self.project.root)
        snaps = [c.snapshot() for c in self.controllers()]
        return bool(snaps) and all(rules.prunable(directory, s.config, s.view, root) for s in snaps)

    def _watch(self) -> None:
        try:
            for batch in watch(
                self.project.root,
                self.stopping,
                self.project.debounce_ms,
                self._relevant,
                prune=self._prunable,
                settle_ms=SETTLE_MS,
            ):
                self.batches.put(batch)
        except DevdError as error:  # e.g. the inotify watch limit: say so instead of going quiet
            self.out.error("stopped watching the project; restart devd up", error=str(error))

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    # -- a changed configuration ---------------------------------------------------------

    def reload_configuration(self) -> None:
        """Apply a changed configuration: only the services that changed are touched
        (:func:`devd.core.configdiff.diff`). An invalid one is reported and the services
        go on as they were."""
        assert self.loader is not None
        new = reload.read_again(
            self.loader, self.project, self.engine.resources, self.engine_watch, self.out
        )
        if new is None:
            return
        old, self.project = self.project, new
        for warning in new.warnings:
            if warning not in old.warnings:
                self.out.warning(warning)
        change = configdiff.diff(old.services, new.services, old.ignore != new.ignore)
        for name in change.removed:
            self._retire(name)
        if change.changed or change.added:
            self._reload_resources()
        for controller in self.controllers():
            self._reconfigure(controller, change)
        for name in change.added:
            self._add(name)
        if not change.empty:
            self.out.info(
                "configuration reloaded",
                added=list(change.added),
                changed=list(change.changed),
                removed=list(change.removed),
            )

    def _reload_resources(self) -> None:
        """Create the network and volumes a reloaded configuration names (existing ones are
        kept); a failure is reported and the services' own starts say what it stops."""
        try:
            prepare_resources(self.engine.resources, self.project)
        except DevdError as error:
            self.engine_watch.check()
            self.out.error("could not create the project's network or volumes", error=str(error))

    def _retire(self, name: str) -> None:
        with self._lock:
            controller = self._controllers.pop(name)
        removal = controller.retire()  # in the background: nothing waits for its stop
        with self._lock:
            self._retiring[name] = removal

    def _reconfigure(self, controller: ServiceController, change: configdiff.ConfigDiff) -> None:
        """Every kept service sees the new project; a changed one its new settings too (the
        ignore rules alone only change what is watched)."""
        name = controller.name
        if name not in change.changed:
            controller.reconfigure(self.project)
            return
        try:
            view = service_view(self.project, self.project.services[name])
        except DevdError as error:
            self.out.error("service keeps its old configuration", service=name, error=str(error))
            controller.reconfigure(self.project)
            return
        controller.reconfigure(self.project, view, recreate=name in change.recreate)

    def _add(self, name: str) -> None:
        with self._lock:
            removal = self._retiring.pop(name, None)
        if removal is not None:  # removed and added again: its old container goes first
            removal.join()
        try:
            controller = self.prepare(name)
        except DevdError as error:
            self.out.error("service not started", service=name, error=str(error))
            return
        controller.start()
        controller.submit(manual(no_cache=False, now=time.monotonic(), label="service added"))
