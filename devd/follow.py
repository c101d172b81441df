"""Following containers' output: each container's lines printed with the service's prefix, and
a container that stops without devd stopping it reported with its exit code and last lines
(not restarted; a one-shot dependency that exits 0 has completed).
"""

from __future__ import annotations

import threading
from functools import partial

from devd import stack
from devd.engine import ContainerInfo
from devd.enginewatch import EngineWatch
from devd.errors import DevdError
from devd.runtime import DaemonParts, ServiceRuntime


class Following(DaemonParts):
    """Prints each service container's output, one follower thread per container."""

    stop: threading.Event
    engine_watch: EngineWatch
    follow: bool  # print containers' output (one-shot commands turn it off)

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
