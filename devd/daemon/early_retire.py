"""Stopping a service's old container while the build of its new image writes its labels."""

from __future__ import annotations

import threading

from devd.daemon.follow import Following
from devd.daemon.runtime import ServiceRuntime
from devd.errors import DevdError


class EarlyRetire:
    """Stops a service's running container in the background while its new image gets its
    labels (:meth:`start` is the build's ``on_labels`` hook); :meth:`undo` starts it again."""

    def __init__(self, daemon: Following, runtime: ServiceRuntime) -> None:
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
            self.daemon.engine.containers.stop(container_id, self.runtime.config.stop_timeout)
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
            runtime.container = daemon.engine.containers.start(self.container.id)
        except DevdError as error:
            daemon.out.error(
                "could not start the previous container again",
                service=runtime.config.name,
                error=str(error),
            )
            return
        daemon._follow_once(runtime, runtime.container, again=True)
