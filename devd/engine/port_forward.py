"""Published ports of an engine behind ssh, reachable on this machine as ``ssh -L`` makes them.

For each port, :class:`PortForwarder` listens on 127.0.0.1:PORT here and carries each
connection it accepts through devd's own ssh connection (:class:`devd.engine.ssh.SshLink`)
as a ``direct-tcpip`` channel to the address the port is published on at the engine's host
(127.0.0.1 there for a port published on every address). sshd's MaxSessions does not count
these channels; each connection costs two threads here, one per direction, for as long as it
is open. A port something here already listens on is refused by the OS at :meth:`add`
(OSError), and the others are still forwarded.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Any

OpenChannel = Callable[[str, int, tuple[str, int]], Any]
"""Opens a channel to (host, port) on the engine's host for a peer at the given address."""
_CHUNK = 65536


class PortForwarder:
    """Local listeners, one per forwarded port, each a thread accepting connections."""

    def __init__(
        self, open_channel: OpenChannel, on_failure: Callable[[int, Exception], None]
    ) -> None:
        self._open_channel = open_channel
        self._on_failure = on_failure  # (port, error): a connection that was not forwarded
        self._lock = threading.Lock()  # guards the two dicts below
        self._listeners: dict[int, socket.socket] = {}
        self._open: dict[int, tuple[socket.socket, Any]] = {}  # id -> a connection's ends

    def add(self, port: int, remote_host: str = "127.0.0.1") -> None:
        """Listen on 127.0.0.1:``port`` and forward to ``remote_host``:``port`` on the engine's
        host; OSError (the port is taken here) when it cannot listen."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", port))
            listener.listen(64)
        except OSError:
            listener.close()
            raise
        with self._lock:
            self._listeners[port] = listener
        thread = threading.Thread(
            target=self._accept, args=(listener, port, remote_host), daemon=True
        )
        thread.name = f"forward-{port}"
        thread.start()

    def ports(self) -> set[int]:
        with self._lock:
            return set(self._listeners)

    def remove(self, port: int) -> None:
        """Stop listening on ``port`` (its open connections go on until they end)."""
        with self._lock:
            listener = self._listeners.pop(port, None)
        if listener is not None:
            _close_listener(listener)

    def close(self) -> None:
        """Stop every listener and end every forwarded connection."""
        with self._lock:
            listeners, self._listeners = list(self._listeners.values()), {}
            ends, self._open = list(self._open.values()), {}
        for listener in listeners:
            _close_listener(listener)
        for local, channel in ends:
            _close_both(local, channel)

    def _accept(self, listener: socket.socket, port: int, remote_host: str) -> None:
        while True:
            try:
                local, peer = listener.accept()
            except OSError:  # closed by remove() or close()
                return
            thread = threading.Thread(
                target=self._forward, args=(local, peer, port, remote_host), daemon=True
            )
            thread.name = f"forward-{port}-{peer[1]}"
            thread.start()

    def _forward(
        self, local: socket.socket, peer: tuple[str, int], port: int, remote_host: str
    ) -> None:
        try:
            channel = self._open_channel(remote_host, port, peer)
        except Exception as error:  # refused on the far side, ssh gone: say why, drop it
            local.close()
            self._on_failure(port, error)
            return
        key = id(local)
        with self._lock:
            self._open[key] = (local, channel)
        back = threading.Thread(target=_pump_back, args=(channel, local), daemon=True)
        back.start()
        try:
            while data := local.recv(_CHUNK):
                channel.sendall(data)
            channel.shutdown_write()
        except (OSError, EOFError):
            pass
        back.join()
        with self._lock:
            self._open.pop(key, None)
        _close_both(local, channel)


def _pump_back(channel: Any, local: socket.socket) -> None:
    """The engine host's side to the local peer, until either end closes."""
    try:
        while data := channel.recv(_CHUNK):
            local.sendall(data)
        local.shutdown(socket.SHUT_WR)
    except (OSError, EOFError):
        _close_both(local, channel)


def _close_both(local: socket.socket, channel: Any) -> None:
    with contextlib.suppress(OSError):
        local.shutdown(socket.SHUT_RDWR)
    local.close()
    channel.close()


def _close_listener(listener: socket.socket) -> None:
    """shutdown wakes the thread blocked in accept() (Linux); close alone would not."""
    with contextlib.suppress(OSError):
        listener.shutdown(socket.SHUT_RDWR)
    listener.close()
