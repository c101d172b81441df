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
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from devd import envfile
from devd.classify import BuildView, Kind, classify, subtree_ignored
from devd.config import ProjectConfig, ServiceConfig
from devd.context import build_context
from devd.engine import BuildResult, ContainerInfo, ContainerSpec, Engine, owner_labels
from devd.errors import BuildFailed, DevdError
from devd.output import Output
from devd.plan import Action, Work, manual, plan
from devd.project import build_view
from devd.scheduler import ServiceSchedule
from devd.state import BuildRecord, RunLock, state_dir
from devd.watch import Batch, watch

CONFIG_FILES = frozenset({"devd.toml", "pyproject.toml"})


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
        self.batches.put(None)
        for runtime in self.services.values():
            with runtime.cond:
                runtime.cond.notify_all()

    def request_rebuild(self, no_cache: bool) -> None:
        """Rebuild every service now (``devd rebuild``, a key in the terminal)."""
        for runtime in self.services.values():
            self._submit(runtime, manual(no_cache, time.monotonic()))

    def prepare(self, name: str) -> ServiceRuntime:
        """Read service ``name``'s build definition and find its container, if it has one."""
        service = self.project.services[name]
        runtime = ServiceRuntime(service, build_view(self.project, service))
        runtime.container = self._existing_container(name)
        self.services[name] = runtime
        return runtime

    def startup(self) -> None:
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
            if self.loader is not None and batch.paths & CONFIG_FILES:
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
        changes = [classify(path, runtime.view) for path in sorted(batch.paths)]
        work = plan(changes, service.code_action, service.dockerfile_no_cache, now=batch.first_seen)
        if work.empty:
            self.out.debug("ignored", service=service.name, paths=sorted(batch.paths)[:10])
            return
        self._submit(runtime, work)

    def _submit(self, runtime: ServiceRuntime, work: Work) -> None:
        """Hand ``work`` to the service's worker: started at once when it is idle, else folded
        into the one follow-up it starts when the running work ends."""
        with runtime.cond:
            runtime.schedule.submit(work)
            runtime.cond.notify_all()

    def _relevant(self, path: str) -> bool:
        """Whether a changed path could matter to any service (the watcher drops the rest)."""
        if path in CONFIG_FILES and self.loader is not None:
            return True
        services = list(self.services.values())
        return any(classify(path, r.view).kind is not Kind.IGNORED for r in services)

    def _prunable(self, directory: str) -> bool:
        """Whether no service can care about anything under ``directory`` (it gets no watch)."""
        services = list(self.services.values())
        return bool(services) and all(subtree_ignored(directory, r.view) for r in services)

    def _watch(self) -> None:
        try:
            for batch in watch(
                self.project.root, self.stop, self.project.debounce_ms, self._relevant
            ):
                self.batches.put(batch)
        except DevdError as error:  # e.g. the inotify watch limit: say so instead of going quiet
            self.out.error("stopped watching the project; restart devd up", error=str(error))

    # -- live configuration ---------------------------------------------------------------

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
        if new.name != self.project.name:
            self.out.warning("a new project name takes effect at the next devd up", name=new.name)
            new = replace(new, name=self.project.name)
        old, self.project = self.project, new
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
        for name in changed:
            self._reconfigure(name)
        for name in added:
            self._add(name)
        if removed or changed or added:
            self.out.info("configuration reloaded", added=added, changed=changed, removed=removed)

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
            view = build_view(self.project, service)
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
                self.engine.stop_container(container.id, runtime.config.stop_timeout)
                self.engine.remove_container(container.id)
        self.out.info("service removed", service=name)

    def status(self) -> None:
        """Print each service's state (a key in the terminal asks for it)."""
        record = self.record.read()
        for name, runtime in list(self.services.items()):
            container = runtime.container and self.engine.container(runtime.container.id)
            last = record.get(name, {})
            self.out.info(
                "status",
                service=name,
                state=container.status if container else "absent",
                image=container.image_id[7:19] if container else None,
                last_build=("ok: " + str(last.get("summary")))
                if last.get("ok")
                else last.get("error"),
                busy=runtime.schedule.busy,
            )

    # -- acting ---------------------------------------------------------------------------

    def _worker(self, runtime: ServiceRuntime) -> None:
        """Run what the schedule started, one piece at a time, until devd stops or the service
        is retired (both notify ``cond``); report each outcome back to the schedule."""
        schedule = runtime.schedule
        while True:
            with runtime.cond:
                while (work := schedule.running) is None and not (
                    self.stop.is_set() or runtime.retired
                ):
                    runtime.cond.wait()
                if work is None or self.stop.is_set() or runtime.retired:
                    return
            ok = False
            try:
                ok = self._act(runtime, work)
            except DevdError as error:
                self.out.error("failed", service=runtime.config.name, error=str(error))
            except Exception as error:  # a worker must outlive any one failure
                self.out.error(
                    "failed unexpectedly", service=runtime.config.name, error=repr(error)
                )
            finally:
                with runtime.cond:
                    schedule.finished(ok)  # a follow-up, if any, is now schedule.running

    def _act(self, runtime: ServiceRuntime, work: Work) -> bool:
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
        return self.rebuild_now(runtime, work)

    def _reload(self, runtime: ServiceRuntime) -> bool:
        try:
            runtime.view = build_view(self.project, runtime.config)
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
        except BuildFailed as error:
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
        service = runtime.config
        on_line: Callable[[str], None] | None = None
        if self.project.verbose:
            on_line = lambda line: self.out.line(service.name, line, stream="build")  # noqa: E731
        with build_context(
            service.context, service.dockerfile, runtime.view.ignore_rules.patterns
        ) as context:
            return self.engine.build(
                context,
                tag=image_tag(self.project.name, service.name),
                labels=owner_labels(self.project.name, service.name),
                build_args=service.build_args,
                target=service.target,
                no_cache=no_cache,
                on_line=on_line,
            )

    def report_build_failure(self, runtime: ServiceRuntime, work: Work, error: BuildFailed) -> None:
        service = runtime.config.name
        self._drop_failed_build(service, error)
        self.record.write(service, ok=False, error=str(error))
        for line in error.output:
            self.out.line(service, line, stream="build")
        kept = runtime.container is not None and runtime.container.status == "running"
        self.out.error(
            "build failed; previous container still running" if kept else "build failed",
            service=service,
            trigger=work.trigger,
            step=error.step,
            error=str(error),
        )

    def _replace(self, runtime: ServiceRuntime, image_id: str) -> bool:
        service = runtime.config
        spec = ContainerSpec(
            name=container_name(self.project.name, service.name),
            image=image_id,
            project=self.project.name,
            service=service.name,
            ports=service.ports,
            environment=self._environment(service),
            command=service.command,
            stop_timeout=service.stop_timeout,
        )
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
        for change in work.changes.values():
            assert change.destination is not None
            host = self.project.root / change.path
            files[change.destination] = host if host.exists() or host.is_symlink() else None
        self.engine.put_files(container.id, files)
        synced = time.monotonic()
        if work.action is Action.SYNC_RESTART:
            runtime.retiring.add(container.id)
            runtime.container = self.engine.restart_container(container.id, service.stop_timeout)
            runtime.retiring.discard(container.id)
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
            self._report_exit(runtime, info)
        except DevdError as error:
            if not self.stop.is_set():
                self.out.error("lost the container's output", service=service, error=str(error))

    def _report_exit(self, runtime: ServiceRuntime, info: ContainerInfo) -> None:
        exit_code = self.engine.wait_container(info.id, timeout=5)
        current = self.engine.container(info.id)
        if runtime.container is not None and runtime.container.id == info.id and current:
            runtime.container = current
        self.out.error(
            "container exited; not restarting it (save a change to rebuild)",
            service=runtime.config.name,
            exit_code=exit_code,
            last_lines=self.engine.tail_logs(info.id, 10),
        )

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
