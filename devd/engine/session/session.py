"""A BuildKit session with the engine: ``POST /session``, the upgrade to HTTP/2, and the
gRPC server devd then runs on that connection for the length of one build.

The request carries the session's id, name and shared key, and one
``X-Docker-Expose-Session-Grpc-Method`` header per method devd serves; the engine answers
``101 Switching Protocols`` and from then on is the HTTP/2 client of the connection. A build
names the session (``POST /build?version=2&session=<id>&remote=client-session``), and the
engine calls back for what the build needs.

The shared key decides what the engine keeps: it stores its copy of each synced directory
under the directory's name and the session's shared key, so builds that reuse a key send
only what changed since the last (:func:`shared_key`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import socket
import threading
import uuid
from collections.abc import Callable
from types import TracebackType

from devd.engine.session.server import Server
from devd.engine.session.services import Attachments, SyncReport, handlers

UPGRADE_TIMEOUT = 10.0
"""Seconds the engine may take to answer the upgrade."""


class SessionUnavailable(Exception):
    """No session could be opened (why, in one line). ``connection_failed``: the connection
    itself failed or timed out (the engine may be down or frozen), rather than the engine
    answering anything but the upgrade."""

    def __init__(self, message: str, *, connection_failed: bool = False) -> None:
        super().__init__(message)
        self.connection_failed = connection_failed


def shared_key(project: str, service: str, context: str) -> str:
    """The shared key of a service's builds: the same for every build of that project,
    service and context directory, so the engine's copy of the context is reused."""
    digest = hashlib.sha256(f"devd\0{project}\0{service}\0{context}".encode()).hexdigest()
    return digest[:32]


class Session:
    """An open session; close it (or use ``with``) when its build is over."""

    def __init__(self, ident: str, server: Server, thread: threading.Thread) -> None:
        self.id = ident
        self._server = server
        self._thread = thread
        self._lock = threading.Lock()
        self._reports: list[SyncReport] = []
        self._sync_errors: list[str] = []

    @property
    def reports(self) -> list[SyncReport]:
        """One report per file sync the engine made, in order."""
        with self._lock:
            return list(self._reports)

    @property
    def bytes_written(self) -> int:
        """Every byte devd wrote on the session's connection."""
        return self._server.bytes_written

    @property
    def file_bytes(self) -> int:
        """The bytes of file contents the engine asked for, over every file sync so far."""
        return sum(report.data_bytes for report in self.reports)

    @property
    def failures(self) -> list[str]:
        """Each call of the engine's that devd could not serve, with the reason."""
        return list(self._server.failures)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def sync_errors(self) -> list[str]:
        """Why each file sync devd could not complete failed (a file it cannot read)."""
        with self._lock:
            return list(self._sync_errors)

    def record(self, report: SyncReport) -> None:
        with self._lock:
            self._reports.append(report)

    def record_error(self, reason: str) -> None:
        with self._lock:
            self._sync_errors.append(reason)

    def close(self) -> None:
        self._server.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def open_session(
    connect: Callable[[], socket.socket],
    api_version: str,
    *,
    name: str,
    key: str,
    offer: Attachments,
) -> Session:
    """Open a session on a new connection ``connect`` makes, serving what ``offer`` offers;
    raises SessionUnavailable when the engine does not switch protocols."""
    ident = uuid.uuid4().hex
    holder: list[Session] = []

    def on_sync(report: SyncReport) -> None:
        holder[0].record(report)
        if offer.on_sync is not None:
            offer.on_sync(report)

    def on_sync_error(reason: str) -> None:
        holder[0].record_error(reason)

    served = handlers(dataclasses.replace(offer, on_sync=on_sync, on_sync_error=on_sync_error))
    try:
        sock = connect()
    except OSError as error:
        raise SessionUnavailable(
            f"cannot connect to the engine: {error}", connection_failed=True
        ) from error
    try:
        rest = _upgrade(sock, api_version, ident, name, key, sorted(served))
    except (OSError, SessionUnavailable) as error:
        sock.close()
        if isinstance(error, SessionUnavailable):
            raise
        raise SessionUnavailable(
            f"the session upgrade failed: {error}", connection_failed=True
        ) from error
    sock.settimeout(None)
    server = Server(sock, served)
    thread = threading.Thread(
        target=server.serve, args=(rest,), name=f"devd-session-{name}", daemon=True
    )
    session = Session(ident, server, thread)
    holder.append(session)
    thread.start()
    return session


def _upgrade(
    sock: socket.socket, api_version: str, ident: str, name: str, key: str, methods: list[str]
) -> bytes:
    """Send the upgrade request and read the answer; the bytes read past it (HTTP/2's
    first frames, if any came with it)."""
    lines = [
        f"POST /v{api_version}/session HTTP/1.1",
        "Host: docker",
        "Upgrade: h2c",
        "Connection: Upgrade",
        "Content-Length: 0",
        f"X-Docker-Expose-Session-Uuid: {ident}",
        f"X-Docker-Expose-Session-Name: {name}",
        f"X-Docker-Expose-Session-Sharedkey: {key}",
        *(f"X-Docker-Expose-Session-Grpc-Method: {method}" for method in methods),
    ]
    sock.settimeout(UPGRADE_TIMEOUT)
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        data = sock.recv(4096)
        if not data:
            raise SessionUnavailable("the engine closed the connection instead of a session")
        answer += data
        if len(answer) > 65536:
            raise SessionUnavailable("the engine's answer to the session request is too long")
    head, rest = answer.split(b"\r\n\r\n", 1)
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    if status_line.split()[1:2] != ["101"]:
        detail = rest.decode("utf-8", "replace").strip()
        raise SessionUnavailable(f"the engine answered {status_line!r} {detail[:200]}".strip())
    return rest
