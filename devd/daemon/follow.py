"""Following containers' output: each container's lines printed with the service's prefix, and
a container that stops without devd stopping it reported with its exit code and last lines
(not restarted; a one-shot dependency that exits 0 has completed). A container removed by
hand, or an anchor stopped by hand (:mod:`devd.anchorwatch` hears of it), is said in one line
when devd notices it; the next save, or ``devd rebuild``, puts the service right.
"""

from __future__ import annotations

import threading
from functools import partial

from devd.daemon import stack
from devd.daemon.enginewatch import EngineWatch
from devd.daemon.runtime import DaemonParts, ServiceRuntime
from devd.engine.anchors import AnchorStopped
from devd.engine.engine import ContainerInfo
from devd.engine.transport import short_id
from devd.errors import ContainerGone, DevdError

EXITED = "container exited; not restarting it (save a change to rebuild)"
REMOVED = "container removed; not recreating it (save a change to put it right)"
ANCHOR_STOPPED = "anchor stopped; the service is unreachable until a save or devd rebuild"


class Following(DaemonParts):
    """Prints each service container's output, one follower thread per container."""

    stop: threading.Event
    engine_watch: EngineWatch
    follow: bool  # print containers' output (one-shot commands turn it off)
    _replace_lock: threading.Lock

    def _follow_once(
        self, runtime: ServiceRuntime, info: ContainerInfo, again: bool = False
    ) -> None:
        """Start printing ``info``'s output unless already (``again``: it was restarted)."""
        if not self.follow or (runtime.followed == info.id and not again):
            return
        runtime.followed = info.id
        self._spawn(f"logs-{runtime.config.name}", partial(self._follow, runtime, info))

    def _follow(self, runtime: ServiceRuntime, info: ContainerInfo) -> None:
        """Print the container's output; report it if it stops without devd stopping it.
        Counted in ``runtime.following`` meanwhile (a frozen engine's stream outlives the
        outage: recovery must not follow it twice)."""
        with runtime.cond:
            runtime.following[info.id] += 1
        try:
            self._print_output(runtime, info)
        finally:
            with runtime.cond:
                runtime.following[info.id] -= 1
                if runtime.following[info.id] <= 0:
                    del runtime.following[info.id]

    def _print_output(self, runtime: ServiceRuntime, info: ContainerInfo) -> None:
        service = runtime.config.name
        try:
            for line in self.engine.logs.follow(info.id):
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
        try:
            exit_code = self.engine.containers.wait(info.id, timeout=5)
            current = self.engine.containers.get(info.id)
        except ContainerGone:
            exit_code, current = None, None
        if current is None or current.status == "removing":  # docker rm -f by hand
            with runtime.cond:  # known gone: the next save rebuilds, not syncs
                if runtime.container is not None and runtime.container.id == info.id:
                    runtime.container = None
            self.out.error(REMOVED, service=runtime.config.name, container=short_id(info.id))
            return
        if runtime.container is not None and runtime.container.id == info.id:
            runtime.container = current
        if exit_code == 0 and stack.one_shot(runtime.config.name, self.project.services):
            self.out.info("completed", service=runtime.config.name, exit_code=0)
            return
        self.out.error(
            EXITED,
            service=runtime.config.name,
            exit_code=exit_code,
            last_lines=self.engine.logs.tail(info.id, 10),
        )

    def anchor_stopped(self, stopped: AnchorStopped) -> None:
        """The engine says an anchor of the project stopped: if it is the one the service's
        container joins, and the engine is not going away (it stops every anchor then, and
        recovery puts them right), say so once. Never raises (the anchor watch calls it)."""
        runtime = self.services.get(stopped.service)
        if runtime is None or self.stop.is_set():
            return
        try:
            if not self.engine_watch.check():
                return
            with self._replace_lock:  # a replace stops and removes anchors of its own accord
                container = runtime.container
                name = container and self.engine.anchors.stopped(container.id)
        except DevdError:
            return  # the engine went meanwhile: the engine watch says so
        if name:
            self.report_anchor_down(runtime, name)

    def report_anchor_down(self, runtime: ServiceRuntime, anchor: str) -> None:
        """Say that the service's anchor ``anchor`` does not run: once, until a new container
        is in place (:meth:`devd.replace.Replacing._replace` forgets it)."""
        with runtime.cond:
            if runtime.anchor_down == anchor:
                return
            runtime.anchor_down = anchor
        self.out.error(ANCHOR_STOPPED, service=runtime.config.name, anchor=anchor)
