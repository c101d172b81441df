"""The daemon loop of ``devd up``: startup → iterate → act → shutdown.

- **startup**: take the project's run lock, read each service's build definition, build every
  image and start (or adopt) its container, follow its output, start watching the tree;
- **iterate**: each batch of changed paths is classified per service and planned
  (:mod:`devd.plan`): ignored changes do nothing, code changes rebuild or sync, dependency and
  Dockerfile changes rebuild;
- **act**: one worker per service does the work, one piece at a time; work that arrives while
  it is busy is folded into one follow-up, so the container always ends on the last save;
- **shutdown**: on Ctrl-C/SIGTERM, stop watching, let a running build end, stop the project's
  containers within their stop_timeout.

A failed build leaves the previous container running; a container that exits by itself is
reported with its exit code and last lines, and not restarted.

When the engine goes away (:mod:`devd.enginewatch`), devd says so once, keeps watching, and
holds the work saves ask for until the engine answers again; then each service is put right
(:meth:`Daemon.engine_back`): a container the outage stopped or removed is replaced, work that
failed because of the outage is done again with every save since, and nothing is duplicated.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from devd import envfile, rules, stack
from devd.classify import BuildView, classify
from devd.compose.files import COMPOSE_FILES, DOTENV
from devd.config import ProjectConfig, ServiceConfig
from devd.context import build_context
from devd.engine import (
    BuildResult,
    ContainerInfo,
    Engine,
    engine_address,
    owner_labels,
)
from devd.enginewatch import EngineWatch
from devd.errors import BuildContextError, BuildFailed, DevdError, EngineUnavailable
from devd.output import Output
from devd.plan import Action, Work, manual, plan
from devd.project import files_under, service_view
from devd.scheduler import ServiceSchedule
from devd.state import BuildRecord, RunLock, state_dir
from devd.watch import Batch, watch

CONFIG_FILES = frozenset({"devd.toml", "pyproject.toml", *COMPOSE_FILES, DOTENV})
NEW_COMPOSE_NAME = "a new project name takes effect at the next devd up; the change waits for it"
# A batch quiet this long is handed over early (not final) for sync services to copy at once:
# an editor's save is over within a millisecond or two, the quiet period (debounce_ms) is for
# bursts such as a checkout, and the final batch still does the rest (see watch()).
SETTLE_MS = 3


def image_tag(project: str, service: str) -> str:
    return f"devd-{project}-{service.lower()}:latest"


def container_name(project: str, service: str) -> str:
    return f"{project}-{service}"


@dataclass
class ServiceRuntime:
    """One service's live state; ``cond`` guards ``schedule``."""

    config: ServiceConfig
    view: BuildView
    container: ContainerInfo | None = None
    schedule: ServiceSchedule = field(default_factory=ServiceSchedule)
    cond: threading.Condition = field(default_factory=threading.Condition)
    retiring: set[str] = field(default_factory=set)  # containers devd itself is stopping
    followed: str | None = None  # the container whose output is being printed
    retired: bool = False  # removed from the configuration while devd up runs
    outage_failed: bool = False  # its last work failed because the engine had gone
    started: threading.Event = field(default_factory=threading.Event)  # first start done
    start_failed: str | None = None  # why the first start failed (its dependents give up)


class Daemon:
    """``devd up`` for one project."""

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
        self.engine_watch = EngineWatch(
            engine.unreachable, output, engine_address(os.environ), self.engine_back, self.stop
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

    def prepare(self, name: str) -> ServiceRuntime:
        """Read service ``name``'s build definition and find its container, if it has one."""
        service = self.project.services[name]
        runtime = ServiceRuntime(service, service_view(self.project, service))
        runtime.container = self._existing_container(name)
        self.services[name] = runtime
        return runtime

    def startup(self) -> None:
        stack.start_order(self.project.services)  # rejects unknown dependencies and cycles
        stack.check_images(self.project, self.engine.image_id)
        self.prepare_resources()
        for name in self.project.services:
            self.prepare(name)
        for runtime in self.services.values():
            self._submit(runtime, manual(no_cache=False, now=time.monotonic(), label="start"))
            self._spawn(f"worker-{runtime.config.name}", partial(self._worker, runtime))
        self._spawn("watch", self._watch)
        self.out.info(
            "watching",
            project=self.project.name,
            root=str(self.project.root),
            services=list(self.services),
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
        service = runtime.config
        if service.code_action not in ("sync", "sync-restart") or not service.build:
            return
        if service.watch is not None:  # develop.watch rules decide, on the final batch
            return
        changes = [classify(path, runtime.view) for path in sorted(batch.paths)]
        work = plan(changes, "sync", service.dockerfile_no_cache, now=batch.first_seen)
        if work.action is Action.SYNC:
            self._submit(runtime, work)

    def _submit(self, runtime: ServiceRuntime, work: Work) -> None:
        """Hand ``work`` to the service's worker: started at once when it is idle, else folded
        into the one follow-up it starts when the running work ends."""
        with runtime.cond:
            runtime.schedule.submit(work)
            runtime.cond.notify_all()

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

    # -- live configuration ---------------------------------------------------------------

    def _config_paths(self) -> frozenset[str]:
        """The project-relative paths whose change reloads the configuration: devd.toml,
        pyproject.toml, the compose files and ``.env``, and the env files a compose file read."""
        root = self.project.root
        read = {
            path.relative_to(root).as_posix()
            for path in self.project.sources
            if path.is_relative_to(root)
        }
        return CONFIG_FILES | read

    def reload_configuration(self) -> None:
        """Apply a changed devd.toml / [tool.devd]: only the services that changed are touched.

        An invalid configuration is reported and the services go on as they were.
        """
        assert self.loader is not None
        try:
            new = self.loader()
        except DevdError as error:
            self.out.error("configuration invalid; services go on unchanged", error=str(error))
            return
        if new.name != self.project.name and new.compose_file is not None:
            # compose names the network and volumes after the project: nothing half-applied
            self.out.warning(NEW_COMPOSE_NAME, name=new.name)
            return
        if new.name != self.project.name:
            self.out.warning("a new project name takes effect at the next devd up", name=new.name)
            new = replace(new, name=self.project.name)
        old, self.project = self.project, new
        for warning in new.warnings:
            if warning not in old.warnings:
                self.out.warning(warning)
        removed = [name for name in old.services if name not in new.services]
        added = [name for name in new.services if name not in old.services]
        changed = [
            name
            for name in new.services
            if name in old.services
            and (old.services[name] != new.services[name] or old.ignore != new.ignore)
        ]
        for name in removed:
            self._retire(name)
        if changed or added:
            self._reload_resources()
        for name in changed:
            self._reconfigure(name)
        for name in added:
            self._add(name)
        if removed or changed or added:
            self.out.info("configuration reloaded", added=added, changed=changed, removed=removed)

    def _reload_resources(self) -> None:
        """Create the network and volumes a reloaded configuration names (existing ones are
        kept); a failure is reported and the services' own starts say what it stops."""
        try:
            self.prepare_resources()
        except DevdError as error:
            self.engine_watch.check()
            self.out.error("could not create the project's network or volumes", error=str(error))

    def _add(self, name: str) -> None:
        try:
            runtime = self.prepare(name)
        except DevdError as error:
            self.out.error("service not started", service=name, error=str(error))
            return
        self._spawn(f"worker-{name}", partial(self._worker, runtime))
        self._submit(runtime, manual(no_cache=False, now=time.monotonic(), label="service added"))

    def _reconfigure(self, name: str) -> None:
        runtime = self.services[name]
        service = self.project.services[name]
        try:
            view = service_view(self.project, service)
        except DevdError as error:
            self.out.error("service keeps its old configuration", service=name, error=str(error))
            return
        with runtime.cond:
            runtime.config, runtime.view = service, view
        work = manual(False, time.monotonic(), label="configuration changed", recreate=True)
        self._submit(runtime, work)

    def _retire(self, name: str) -> None:
        runtime = self.services.pop(name)
        with runtime.cond:
            runtime.retired = True
            runtime.cond.notify_all()
        with self._replace_lock:
            container = runtime.container
            if container is not None:
                runtime.retiring.add(container.id)
                try:
                    self.engine.stop_container(container.id, runtime.config.stop_timeout)
                    self.engine.remove_container(container.id)
                except DevdError as error:  # the engine gone, say: devd up goes on
                    self.engine_watch.check()
                    self.out.error("could not remove the service's container", error=str(error))
        self.out.info("service removed", service=name)

    def status(self) -> None:
        """Print each service's state (a key in the terminal asks for it)."""
        record = self.record.read()
        for name, runtime in list(self.services.items()):
            try:
                container = runtime.container and self.engine.container(runtime.container.id)
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
                last_build=("ok: " + str(last.get("summary")))
                if last.get("ok")
                else last.get("error"),
                busy=runtime.schedule.busy,
            )

    # -- acting ---------------------------------------------------------------------------

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
        is reported once, by the engine watch, not by every piece of work it fails."""
        service = runtime.config.name
        try:
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
        """Do ``work``; whether it succeeded (an invalid definition or a failed build: no)."""
        self.record.record_cycle(  # devd doctor reads this history (manifest churn)
            runtime.config.name,
            str(work.kind) if work.changes else "manual",
            [c.path for c in work.changes.values() if c.kind is work.kind],
        )
        if work.reload_definition and not self._reload(runtime):
            return False
        running = runtime.container is not None and runtime.container.status == "running"
        if work.action in (Action.SYNC, Action.SYNC_RESTART) and running:
            self._sync(runtime, work)
            return True
        if runtime.config.build:
            ok = self.rebuild_now(runtime, work)
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

    def rebuild_now(self, runtime: ServiceRuntime, work: Work) -> bool:
        """Build, and replace the container unless the image is the one it runs already."""
        service = runtime.config
        started = time.monotonic()
        self.out.info(
            "building", service=service.name, trigger=work.trigger, no_cache=work.no_cache
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
            self.out.info(
                "image unchanged; container kept",
                service=service.name,
                trigger=work.trigger,
                steps=result.summary,
                build_s=round(built - started, 2),
            )
            self.record.write(service.name, ok=True, summary=result.summary, image=result.image_id)
            self._follow_once(runtime, current)
            self.drop_superseded(service.name, result.image_id)
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
        )
        self.drop_superseded(service.name, result.image_id)
        return True

    def drop_superseded(self, service: str, image_id: str) -> None:
        """Keep one image generation: remove the images this build superseded."""
        try:
            removed = self.engine.remove_superseded_images(self.project.name, service, image_id)
        except DevdError as error:
            self.out.warning("superseded images kept", service=service, error=str(error))
            return
        if removed:
            self.out.debug("superseded images removed", service=service, count=len(removed))

    def _drop_failed_build(self, service: str, error: DevdError) -> None:
        """Remove the layers a failed build made: each failure would leave a dangling image."""
        if not isinstance(error, BuildFailed) or not error.created_images:
            return
        try:
            self.engine.remove_failed_build_images(error.created_images)
        except DevdError as problem:
            self.out.warning("failed build's images kept", service=service, error=str(problem))

    def build_image(self, runtime: ServiceRuntime, no_cache: bool) -> BuildResult:
        """Build the service's image. Once every Dockerfile step has succeeded and only the
        label steps are left (the image will be a new one), the old container is stopped
        alongside, so the replace that follows only removes it; should the build still fail,
        the old container is started again. A compose service with ``image:`` as well as
        ``build:`` has the image tagged with that name too, as compose tags it."""
        service = runtime.config
        on_line: Callable[[str], None] | None = None
        if self.project.verbose:
            on_line = lambda line: self.out.line(service.name, line, stream="build")  # noqa: E731
        retire = _EarlyRetire(self, runtime)
        try:
            with build_context(
                service.context, service.dockerfile, runtime.view.ignore_rules.patterns
            ) as context:
                result = self.engine.build(
                    context,
                    tag=image_tag(self.project.name, service.name),
                    labels=owner_labels(self.project.name, service.name),
                    build_args=service.build_args,
                    target=service.target,
                    no_cache=no_cache,
                    on_line=on_line,
                    on_labels=retire.start,
                )
        except BuildFailed:
            retire.undo()
            raise
        finally:
            retire.join()
        if service.image and "@" not in service.image:  # compose's build + image: tag it so
            self.engine.tag_image(result.image_id, service.image)
        return result

    def report_build_failure(
        self, runtime: ServiceRuntime, work: Work, error: BuildFailed | BuildContextError
    ) -> None:
        """Say the build failed and whether the previous container still serves (asked of the
        engine: an outage or an early stop may have ended it)."""
        service = runtime.config.name
        self._drop_failed_build(service, error)
        self.record.write(service, ok=False, error=str(error))
        output = error.output if isinstance(error, BuildFailed) else ()
        for line in output:
            self.out.line(service, line, stream="build")
        current = runtime.container
        kept = False
        if current is not None and self.engine_watch.check():
            with contextlib.suppress(DevdError):
                now = self.engine.container(current.id)
                kept = now is not None and now.status == "running"
        self.out.error(
            "build failed; previous container still running" if kept else "build failed",
            service=service,
            trigger=work.trigger,
            step=error.step if isinstance(error, BuildFailed) else None,
            error=str(error),
        )

    def _replace(self, runtime: ServiceRuntime, image_id: str) -> bool:
        service = runtime.config
        spec = stack.container_spec(
            self.project,
            service,
            name=container_name(self.project.name, service.name),
            image=image_id,
            environment=self._environment(service),
        )
        if not runtime.started.is_set() and not self._dependencies_ready(runtime):
            return False
        with self._replace_lock:
            if self.stop.is_set():
                return False
            if runtime.container is not None and runtime.container.status == "running":
                runtime.retiring.add(runtime.container.id)  # an exited one has no follower
            info = self.engine.replace_container(spec)
            runtime.container = info
        self._follow_once(runtime, info)
        return True

    def _environment(self, service: ServiceConfig) -> dict[str, str]:
        values: dict[str, str] = {}
        if service.env_file is not None:
            values.update(envfile.read(service.env_file, f"services.{service.name}.env_file"))
        values.update(service.environment)
        return values

    def _sync(self, runtime: ServiceRuntime, work: Work) -> None:
        service = runtime.config
        container = runtime.container
        assert container is not None
        started = time.monotonic()
        files: dict[str, Path | None] = {}
        for destination, path in work.sync_files().items():
            host = self.project.root / path
            if host.is_dir() and not host.is_symlink():
                continue  # a new directory: its files are in the batch themselves
            files[destination] = host if host.exists() or host.is_symlink() else None
        sent = self.engine.put_files(container.id, files)
        synced = time.monotonic()
        if (
            work.action is Action.SYNC
            and not work.by_rules
            and (not sent or service.code_action == "sync-restart")
        ):
            # nothing new, or an early copy the final batch's sync-restart will report
            self.out.debug("copied", service=service.name, files=len(files), sent=sent)
            return
        if work.action is Action.SYNC_RESTART:
            runtime.retiring.add(container.id)
            runtime.container = self.engine.restart_container(container.id, service.stop_timeout)
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

    # -- the stack (compose projects): resources, image-only services, start order -------

    def prepare_resources(self) -> None:
        """Create (or reuse) the project's network and named volumes, devd's labels on them."""
        if self.project.network is not None:
            self.engine.ensure_network(self.project.network, self.project.name)
        for volume in self.project.volumes:
            self.engine.ensure_volume(volume, self.project.name)

    def _run_image(self, runtime: ServiceRuntime, work: Work) -> bool:
        """An image-only service: (re)start its container from its image, nothing built."""
        service = runtime.config
        started = time.monotonic()
        image_id = stack.image_of(service, self.engine.image_id)
        current = runtime.container
        running = current is not None and current.status == "running"
        if current is not None and running and current.image_id == image_id and not work.recreate:
            self._follow_once(runtime, current)
            return True
        if not self._replace(runtime, image_id):
            return False
        self.out.info(
            "running",
            service=service.name,
            trigger=work.trigger,
            image=service.image,
            restart_s=round(time.monotonic() - started, 2),
        )
        return True

    def _dependencies_ready(self, runtime: ServiceRuntime) -> bool:
        """Before a service's first start: wait for what it depends on (False: devd stops)."""
        if not runtime.config.depends_on:
            return True
        waits = stack.Waits(_Probe(self), self.stop, time.monotonic, self.project.services)
        names = [d.service for d in runtime.config.depends_on]
        self.out.info("waiting for dependencies", service=runtime.config.name, on=names)
        return waits.ready(runtime.config)

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
            self.engine.put_files(container.id, {c: root / p for c, p in copies.items()})
            self.out.info("initial sync", service=service.name, files=len(copies))

    def _run_execs(self, runtime: ServiceRuntime, commands: tuple[tuple[str, ...], ...]) -> None:
        """develop.watch ``sync+exec``: run each command in the container, report its exit."""
        container = runtime.container
        for command in commands:
            if container is None:
                return
            code, lines = self.engine.exec_in(container.id, command)
            for line in lines:
                self.out.line(runtime.config.name, line, stream="exec")
            report = self.out.info if code == 0 else self.out.error
            report("exec", service=runtime.config.name, command=list(command), exit_code=code)

    # -- containers -----------------------------------------------------------------------

    def _existing_container(self, service: str) -> ContainerInfo | None:
        """A container left by an earlier ``devd up``: adopted if the fresh image matches."""
        found = self.engine.containers(self.project.name, service)
        running = [c for c in found if c.status == "running"]
        return running[0] if len(found) == 1 and running else None

    def _follow_once(
        self, runtime: ServiceRuntime, info: ContainerInfo, again: bool = False
    ) -> None:
        """Start printing ``info``'s output unless already (``again``: it was restarted)."""
        if not self.follow or (runtime.followed == info.id and not again):
            return
        runtime.followed = info.id
        self._spawn(f"logs-{runtime.config.name}", partial(self._follow, runtime, info))

    def _follow(self, runtime: ServiceRuntime, info: ContainerInfo) -> None:
        """Print the container's output; report it if it stops without devd stopping it."""
        service = runtime.config.name
        try:
            for line in self.engine.follow_logs(info.id):
                self.out.line(service, line)
            if self.stop.is_set() or info.id in runtime.retiring:
                runtime.retiring.discard(info.id)
                return
            if self.engine_watch.check():  # else the engine went away, not the app
                self._report_exit(runtime, info)
        except DevdError as error:
            if not self.stop.is_set() and self.engine_watch.check():
                self.out.error("lost the container's output", service=service, error=str(error))

    def _report_exit(self, runtime: ServiceRuntime, info: ContainerInfo) -> None:
        exit_code = self.engine.wait_container(info.id, timeout=5)
        current = self.engine.container(info.id)
        if runtime.container is not None and runtime.container.id == info.id and current:
            runtime.container = current
        if exit_code == 0 and stack.one_shot(runtime.config.name, self.project.services):
            self.out.info("completed", service=runtime.config.name, exit_code=0)
            return
        self.out.error(
            "container exited; not restarting it (save a change to rebuild)",
            service=runtime.config.name,
            exit_code=exit_code,
            last_lines=self.engine.tail_logs(info.id, 10),
        )

    # -- the engine coming back -----------------------------------------------------------

    def engine_back(self) -> None:
        """The engine answers again: make each service right before held work goes on.

        Work the outage made fail is done again (the schedule folds it into the new work).
        A container that ran before the outage and does not now (an engine restart stops
        containers), or a second container labelled as the service's (a replace the outage
        cut short), has the service's container replaced, after a cached rebuild: replacing
        removes every container labelled as the service's, so there is exactly one. Work
        that failed for reasons of its own (a broken build) still waits for the next save. A
        container that runs (live-restore) gets its output followed again; one that had
        exited by itself before stays as it was. Raises EngineUnavailable if the engine goes
        again meanwhile (the watch then waits again).
        """
        for runtime in list(self.services.values()):
            with self._replace_lock:
                known = runtime.container
                found = self.engine.containers(self.project.name, runtime.config.name)
                current = next((c for c in found if known and c.id == known.id), None)
                runtime.container = current
            ran = known is not None and known.status == "running"
            runs = current is not None and current.status == "running"
            strays = len(found) > (current is not None)  # a replace the outage cut short
            if runs and current is not None:
                self._follow_once(runtime, current, again=True)
            with runtime.cond:
                idle = not runtime.schedule.busy  # else its work, about to go on, does it
                owed = runtime.outage_failed and runtime.schedule.failed is not None
            if idle and (owed or (ran and not runs) or strays):
                work = manual(False, time.monotonic(), label="engine back", recreate=strays)
                self._submit(runtime, work)

    def _stop_container(self, runtime: ServiceRuntime) -> None:
        container = runtime.container
        if container is None:
            return
        runtime.retiring.add(container.id)
        try:
            self.engine.stop_container(container.id, runtime.config.stop_timeout)
        except DevdError as error:
            self.out.error(
                "could not stop the container", service=runtime.config.name, error=str(error)
            )

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        with self._threads_lock:  # a log follower per container: forget the ended ones
            self._threads = [alive for alive in self._threads if alive.is_alive()]
            self._threads.append(thread)
        thread.start()


class _EarlyRetire:
    """Stops a service's running container in the background while its new image gets its
    labels (:meth:`start` is the build's ``on_labels`` hook); :meth:`undo` starts it again."""

    def __init__(self, daemon: Daemon, runtime: ServiceRuntime) -> None:
        self.daemon = daemon
        self.runtime = runtime
        self.container = runtime.container
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        container = self.container
        if container is None or container.status != "running" or self.daemon.stop.is_set():
            return
        self.runtime.retiring.add(container.id)
        self.thread = threading.Thread(
            target=self._stop,
            args=(container.id,),
            name=f"retire-{self.runtime.config.name}",
            daemon=True,
        )
        self.thread.start()

    def _stop(self, container_id: str) -> None:
        try:
            self.daemon.engine.stop_container(container_id, self.runtime.config.stop_timeout)
        except DevdError as error:  # the replace that follows stops it again, or says why
            self.daemon.out.debug("early stop failed", error=str(error))

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()

    def undo(self) -> None:
        """The build failed after all: the old container serves again."""
        if self.thread is None or self.container is None:
            return
        self.thread.join()
        runtime, daemon = self.runtime, self.daemon
        runtime.retiring.discard(self.container.id)
        try:
            runtime.container = daemon.engine.start_container(self.container.id)
        except DevdError as error:
            daemon.out.error(
                "could not start the previous container again",
                service=runtime.config.name,
                error=str(error),
            )
            return
        daemon._follow_once(runtime, runtime.container, again=True)


class _Probe:
    """What the dependency waits (devd.stack) see of the running services."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def started(self, service: str) -> ContainerInfo | None:
        runtime = self.daemon.services.get(service)
        return runtime.container if runtime is not None and runtime.started.is_set() else None

    def failed(self, service: str) -> str | None:
        runtime = self.daemon.services.get(service)
        return runtime.start_failed if runtime is not None else "it is not configured"

    def inspect(self, container_id: str) -> ContainerInfo | None:
        return self.daemon.engine.container(container_id)
