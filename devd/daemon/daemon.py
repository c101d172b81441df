"""The daemon loop of ``devd up``: startup → iterate → act → shutdown.

- **startup**: take the project's run lock, read each service's build definition, build every
  image and start (or adopt) its container, follow its output, start watching the tree;
- **iterate**: each batch of changed paths is classified per service and planned
  (:mod:`devd.plan`): ignored changes do nothing, code changes rebuild or sync, dependency and
  Dockerfile changes rebuild;
- **act**: one worker per service (:mod:`devd.worker`) does the work, one piece at a time;
  work that arrives while it is busy is folded into one follow-up, so the container always
  ends on the last save. It rebuilds (:mod:`devd.rebuild`, :mod:`devd.early_retire`),
  replaces (:mod:`devd.replace`) or syncs (:mod:`devd.syncing`); a changed configuration is
  applied live (:mod:`devd.reload`);
- **shutdown**: on Ctrl-C/SIGTERM, stop watching, let a running build end, stop the project's
  containers within their stop_timeout.

After each build the images it superseded are removed in the background (:mod:`devd.sweeper`),
off the path from the next save to its container running.

A failed build leaves the previous container running; a container that exits by itself is
reported with its exit code and last lines, and not restarted (:mod:`devd.follow`).

When the engine goes away (:mod:`devd.enginewatch`), devd says so once, keeps watching, and
holds the work saves ask for until the engine answers again (an engine that freezes, its
socket accepting but nothing answering, is noticed by a ping while work waits on it); then
each service is put right (:mod:`devd.recovery`): a container the outage stopped or removed
is replaced, work that failed because of the outage is done again with every save since, and
nothing is duplicated.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from functools import partial

from devd.config import ProjectConfig
from devd.core import rules
from devd.core.plan import Work, manual
from devd.daemon import stack
from devd.daemon.anchorwatch import AnchorWatch
from devd.daemon.enginewatch import EngineWatch
from devd.daemon.recovery import EngineRecovery
from devd.daemon.reload import LiveReload
from devd.daemon.runtime import ServiceRuntime
from devd.daemon.sweeper import Sweeper
from devd.engine.engine import Engine, engine_address
from devd.errors import DevdError, EngineUnavailable
from devd.output import Output
from devd.state import BuildRecord, RunLock, state_dir
from devd.watch import Batch, watch

# A batch quiet this long is handed over early (not final) for sync services to copy at once:
# an editor's save is over within a millisecond or two, the quiet period (debounce_ms) is for
# bursts such as a checkout, and the final batch still does the rest (see watch()).
SETTLE_MS = 3
# How long shutdown waits, once the containers are stopped, for the superseded images still
# being removed (a removal takes 20-100 ms; what is left then stays for the next build).
SWEEP_WAIT_S = 5.0


class Daemon(LiveReload, EngineRecovery):
    """``devd up`` for one project: the loop; the work is done by the mixins it is made of
    (:mod:`devd.runtime` lists them)."""

    def __init__(
        self,
        project: ProjectConfig,
        engine: Engine,
        output: Output,
        loader: Callable[[], ProjectConfig] | None = None,
    ) -> None:
        self.project = project
        self.loader = loader  # re-reads the configuration (live reload); None: no reload
        self.engine = engine
        self.out = output
        self.stop = threading.Event()
        self.batches: queue.Queue[Batch | None] = queue.Queue()
        self.record = BuildRecord(state_dir(project.name, project.root))
        self.lock = RunLock(state_dir(project.name, project.root), project.name)
        self.services: dict[str, ServiceRuntime] = {}
        self._replace_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._threads_lock = threading.Lock()
        self.follow = True  # print containers' output (one-shot commands turn it off)
        self.sweeper = Sweeper(self.remove_superseded, self.builds)
        self.engine_watch = EngineWatch(
            engine.transport.unreachable,
            output,
            engine_address(os.environ),
            self.engine_back,
            self.stop,
        )
        self.anchor_watch = AnchorWatch(
            lambda: self.engine.anchors.stops(self.project.name),
            self.anchor_stopped,
            self.engine_watch,
            self.stop,
        )

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> int:
        self.lock.acquire()
        try:
            self.startup()
            self.iterate()
        finally:
            self.shutdown()
            self.lock.release()
        return 0

    def request_stop(self) -> None:
        """Ask the loop to end (signal handlers call this); safe from any thread."""
        self.stop.set()
        self.engine_watch.wake()
        self.engine.anchors.close_stops()
        self.sweeper.close()
        self.batches.put(None)
        for runtime in self.services.values():
            with runtime.cond:
                runtime.cond.notify_all()

    def request_rebuild(self, no_cache: bool, services: Iterable[str] | None = None) -> None:
        """Rebuild ``services`` (default: every one) now (``devd rebuild``, a key)."""
        names = set(self.services if services is None else services)
        for name, runtime in list(self.services.items()):
            if name in names:
                self._submit(runtime, manual(no_cache, time.monotonic()))

    def run_work(self, name: str, work: Work) -> bool:
        """Do ``work`` for service ``name`` now, in this thread (one-shot commands); whether
        it succeeded (a failure is reported)."""
        return self._attempt(self.services[name], work)

    def startup(self) -> None:
        stack.start_order(self.project.services)  # rejects unknown dependencies and cycles
        stack.check_images(self.project, self.engine.images.id_of)
        self.prepare_resources()
        for name in self.project.services:
            self.prepare(name)
        self.sweeper.start()
        for runtime in self.services.values():
            self._submit(runtime, manual(no_cache=False, now=time.monotonic(), label="start"))
            self._spawn(f"worker-{runtime.config.name}", partial(self._worker, runtime))
        self._spawn("watch", self._watch)
        self._spawn("anchor-events", self.anchor_watch.run)  # anchors stopped by hand
        self.out.info(
            "watching",
            project=self.project.name,
            root=str(self.project.root),
            services=list(self.services),
            builders={
                name: self.engine.builds.builder(service.builder)
                for name, service in self.project.services.items()
                if service.build
            },
        )

    def iterate(self) -> None:
        while not self.stop.is_set():
            batch = self.batches.get()
            if batch is None:
                break
            if not batch.final:
                for runtime in list(self.services.values()):
                    self._plan_early(runtime, batch)
                continue
            if self.loader is not None and batch.paths & self._config_paths():
                with self.engine_watch.in_flight():
                    self.reload_configuration()
            for runtime in list(self.services.values()):
                self._plan(runtime, batch)

    def shutdown(self) -> None:
        self.request_stop()
        for thread in self._threads:
            if thread.name.startswith("worker-"):
                thread.join(timeout=30)
        with self._replace_lock:
            stoppers = [
                threading.Thread(target=self._stop_container, args=(runtime,), daemon=True)
                for runtime in self.services.values()
            ]
            for thread in stoppers:
                thread.start()
            for thread in stoppers:
                thread.join()
            try:
                self.engine.anchors.stop_all(self.project.name)
            except DevdError as error:
                self.out.error("could not stop the anchors", error=str(error))
        if not self.sweeper.join(SWEEP_WAIT_S):
            self.out.debug("left superseded images for the next build to remove")
        self.out.info("stopped", project=self.project.name)

    # -- planning -------------------------------------------------------------------------

    def _plan(self, runtime: ServiceRuntime, batch: Batch) -> None:
        service = runtime.config
        root = str(self.project.root)
        work = rules.plan_batch(batch.paths, service, runtime.view, root, now=batch.first_seen)
        if work.empty:
            self.out.debug("ignored", service=service.name, paths=sorted(batch.paths)[:10])
            return
        self._submit(runtime, work)

    def _plan_early(self, runtime: ServiceRuntime, batch: Batch) -> None:
        """An early look at a batch still open: a sync service copies its code changes in now
        (without a restart); the final batch does the rest and copies nothing twice."""
        root = str(self.project.root)
        work = rules.plan_early(batch.paths, runtime.config, runtime.view, root, batch.first_seen)
        if not work.empty:
            self._submit(runtime, work)

    def _relevant(self, path: str) -> bool:
        """Whether a changed path could matter to any service (the watcher drops the rest)."""
        if self.loader is not None and path in self._config_paths():
            return True
        services = list(self.services.values())
        root = str(self.project.root)
        return any(rules.relevant(path, r.config, r.view, root) for r in services)

    def _prunable(self, directory: str) -> bool:
        """Whether no service can care about anything under ``directory`` (it gets no watch)."""
        if self.loader is not None and any(
            path.startswith(directory + "/") for path in self._config_paths()
        ):
            return False
        services = list(self.services.values())
        root = str(self.project.root)
        return bool(services) and all(
            rules.prunable(directory, r.config, r.view, root) for r in services
        )

    def _watch(self) -> None:
        try:
            for batch in watch(
                self.project.root,
                self.stop,
                self.project.debounce_ms,
                self._relevant,
                prune=self._prunable,
                settle_ms=SETTLE_MS,
            ):
                self.batches.put(batch)
        except DevdError as error:  # e.g. the inotify watch limit: say so instead of going quiet
            self.out.error("stopped watching the project; restart devd up", error=str(error))

    def status(self) -> None:
        """Print each service's state (a key in the terminal asks for it)."""
        record = self.record.read()
        for name, runtime in list(self.services.items()):
            try:
                container = runtime.container and self.engine.containers.get(runtime.container.id)
            except EngineUnavailable:
                self.engine_watch.check()
                container, absent = None, "unknown: the engine does not answer"
            else:
                absent = "absent"
            last = record.get(name, {})
            self.out.info(
                "status",
                service=name,
                state=container.status if container else absent,
                image=container.image_id[7:19] if container else None,
                builder=self.engine.builds.builder(runtime.config.builder),
                last_build=("ok: " + str(last.get("summary")))
                if last.get("ok")
                else last.get("error"),
                behind=runtime.behind is not None,
                busy=runtime.schedule.busy,
            )

    def _stop_container(self, runtime: ServiceRuntime) -> None:
        container = runtime.container
        if container is None:
            return
        runtime.retiring.add(container.id)
        try:
            self.engine.containers.stop(container.id, runtime.config.stop_timeout)
        except DevdError as error:
            self.out.error(
                "could not stop the container", service=runtime.config.name, error=str(error)
            )
