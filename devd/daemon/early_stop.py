"""Stopping a service's old container while the build of its new image writes its labels.

The engine calls :meth:`EarlyStop.start` (the build's ``on_labels``) once only writing the
image is left and it will be a new one: the old container is stopped alongside, so the
replace that follows only removes it. Should the build still fail, :meth:`undo` starts it
again. The controller that owns the service's state is told before the stop
(``before_stop``: its end is devd's doing) and applies what :meth:`undo` returns.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from devd.daemon.ports import ContainerClient, Reporter
from devd.engine.container_spec import ContainerInfo
from devd.errors import DevdError


class EarlyStop:
    """Stops ``container`` in the background once :meth:`start` is called (see the module
    docstring); nothing when it does not run or devd is stopping."""

    def __init__(
        self,
        containers: ContainerClient,
        out: Reporter,
        service: str,
        container: ContainerInfo | None,
        timeout: float,
        before_stop: Callable[[], None],
        stopping: threading.Event,
    ) -> None:
        self._containers = containers
        self._out = out
        self._service = service
        self._container = container
        self._timeout = timeout
        self._before_stop = before_stop
        self._stopping = stopping
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        container = self._container
        if container is None or container.status != "running" or self._stopping.is_set():
            return
        self._before_stop()
        self._thread = threading.Thread(
            target=self._stop, args=(container.id,), name=f"stop-{self._service}", daemon=True
        )
        self._thread.start()

    def _stop(self, container_id: str) -> None:
        try:
            self._containers.stop(container_id, self._timeout)
        except DevdError as error:  # the replace that follows stops it again, or says why
            self._out.debug("early stop failed", error=str(error))

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def undo(self) -> ContainerInfo | None:
        """The build failed after all: start the old container again; it, running, or None
        (nothing was stopped, or it could not be started: said in one line)."""
        if self._thread is None or self._container is None:
            return None
        self._thread.join()
        try:
            return self._containers.start(self._container.id)
        except DevdError as error:
            self._out.error(
                "could not start the previous container again",
                service=self._service,
                error=str(error),
            )
            return None
