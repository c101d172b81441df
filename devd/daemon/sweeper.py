"""Removing the images a build superseded off the path from save to running.

After a build devd keeps one image generation (:mod:`devd.generations`); the removal takes a
few engine requests (20-100 ms). Done by the service's worker, it would hold up the next
save's work, so ``devd up`` hands it to one background thread, the sweeper:

- each service's newest request only: the image it names supersedes every image the
  service's earlier requests named, so a request replaces the one still pending;
- one removal at a time, in the order the services asked (never two at once for a service);
- a service's removal waits while the service builds, and stops before removing anything
  more once a build has started since it began: a build's image is labelled and untagged
  until the build ends, and may be made within the same second as the image the removal
  keeps (image creation times are whole seconds, :mod:`devd.generations`), so a removal
  that listed the images meanwhile could take the new image for a superseded one. A
  stopped removal is asked again (unless a newer one is pending) and runs once the build
  is over (:meth:`Sweeper.wake`);
- on shutdown (:meth:`Sweeper.close`) the pending removals whose service is not building
  still run, the others are dropped (the next build's removal takes their images too); the
  daemon waits for it only a bounded time (:meth:`Sweeper.join`).

Until :meth:`Sweeper.start`, a request is done at once in the caller's thread: the one-shot
commands (``devd build``, ``devd rebuild`` without ``devd up``) end when their work does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

# (service, image_id, proceed): remove the service's images that image_id supersedes, asking
# proceed() before each; reports its own failures, never raises
Remover = Callable[[str, str, Callable[[], bool]], None]


class Sweeper:
    """Runs each service's newest removal request on one background thread; ``builds`` says
    how many builds a service has started, None while one runs (its removal waits)."""

    def __init__(self, remove: Remover, builds: Callable[[str], int | None]) -> None:
        self._remove = remove
        self._builds = builds
        self._pending: dict[str, str] = {}  # service -> image id; insertion order is the order
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def start(self) -> None:
        """Do the removals on a background thread from now on."""
        with self._cond:
            if self._thread is not None or self._closed:
                return
            self._thread = threading.Thread(target=self._run, name="sweeper", daemon=True)
        self._thread.start()

    def request(self, service: str, image_id: str) -> None:
        """Remove the images of ``service`` that ``image_id`` supersedes: at once when not
        started, else on the thread (replacing the service's pending request); dropped
        once closed."""
        with self._cond:
            if self._thread is None and not self._closed:
                inline = True
            else:
                inline = False
                if not self._closed:
                    self._pending[service] = image_id
                    self._cond.notify_all()
        if inline:
            self._remove(service, image_id, lambda: True)

    def wake(self) -> None:
        """A build ended: a removal that waited for it may run now."""
        with self._cond:
            self._cond.notify_all()

    def close(self) -> None:
        """No more requests: the thread runs what it can now and ends."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the thread to end; whether it has."""
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    @property
    def pending(self) -> dict[str, str]:
        """The requests waiting: service -> image id."""
        with self._cond:
            return dict(self._pending)

    def _run(self) -> None:
        while (job := self._next()) is not None:
            self._sweep(*job)

    def _next(self) -> tuple[str, str, int] | None:
        """The first pending request whose service is not building (waiting for one), with
        its count of builds; None once closed with nothing left to run now (the rest is
        dropped)."""
        with self._cond:
            while True:
                for name in self._pending:
                    builds = self._builds(name)
                    if builds is not None:
                        return name, self._pending.pop(name), builds
                if self._closed:
                    self._pending.clear()
                    return None
                self._cond.wait()

    def _sweep(self, service: str, image_id: str, builds: int) -> None:
        stopped = False

        def proceed() -> bool:  # no build since the removal began (nor one running)
            nonlocal stopped
            stopped = self._builds(service) != builds
            return not stopped

        self._remove(service, image_id, proceed)
        if stopped:
            with self._cond:
                if not self._closed:
                    self._pending.setdefault(service, image_id)
