"""The board: which services have started, and why one could not.

A service's first start may wait for its dependencies (``depends_on``, :mod:`devd.daemon.stack`),
and a dependent that gave up because a dependency failed tries again once that dependency
starts. Instead of one service looking into another's state, each service's controller posts
here what the others may know of it — its container once started, or why its first start
failed — and the board tells whoever subscribed that a service has started. The board holds
only what was posted; each controller stays the one writer of its own state.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from devd.engine.container_spec import ContainerInfo

NOT_CONFIGURED = "it is not configured"


class Board:
    """What the services have posted about their start; safe from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._services: set[str] = set()
        self._started: dict[str, ContainerInfo] = {}
        self._failed: dict[str, str] = {}
        self._listeners: list[Callable[[str], None]] = []

    def join(self, service: str) -> None:
        """``service`` is configured (it has not started, nor failed, yet)."""
        with self._lock:
            self._services.add(service)

    def leave(self, service: str) -> None:
        """``service`` is no longer configured: its dependents' waits fail."""
        with self._lock:
            self._services.discard(service)
            self._started.pop(service, None)
            self._failed.pop(service, None)

    def subscribe(self, listener: Callable[[str], None]) -> None:
        """Call ``listener`` with each service's name as it first starts."""
        with self._lock:
            self._listeners.append(listener)

    def post_started(self, service: str, container: ContainerInfo) -> None:
        """``service`` runs ``container`` (its first start, or a later replace); the first
        time, every subscriber hears of it (in this thread)."""
        with self._lock:
            if service not in self._services:
                return
            first = service not in self._started
            self._started[service] = container
            self._failed.pop(service, None)
            listeners = list(self._listeners) if first else []
        for listener in listeners:
            listener(service)

    def post_failed(self, service: str, reason: str | None) -> None:
        """``service``'s first start failed for ``reason`` (None: it is trying again)."""
        with self._lock:
            if reason is None:
                self._failed.pop(service, None)
            elif service in self._services:
                self._failed[service] = reason

    def started(self, service: str) -> ContainerInfo | None:
        """The container ``service`` runs once it has started (None: not yet)."""
        with self._lock:
            return self._started.get(service)

    def failed(self, service: str) -> str | None:
        """Why ``service`` could not start (None: it has not failed)."""
        with self._lock:
            if service not in self._services:
                return NOT_CONFIGURED
            return self._failed.get(service)
