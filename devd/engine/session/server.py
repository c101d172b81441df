"""The gRPC server devd runs on a session's connection: after the upgrade the engine is the
HTTP/2 client and calls devd.

One thread reads the socket and feeds ``h2`` (a pure-Python HTTP/2 state machine that does no
I/O itself); each call the engine makes runs its handler on a thread of its own, which reads
the call's messages from a queue and sends its answers through :class:`Call`. One lock guards
the HTTP/2 state and the socket's writes; a sender whose stream has no flow-control window
left waits on it until the engine grants more.

Decisions: ``h2`` over ``grpclib``: grpclib serves on asyncio's own listening sockets and
would need its protocol class driven by hand on a socket the engine already upgraded, plus
compiled stubs; with ``h2`` the whole server is this module, and gRPC on top of it is the
5-byte framing and the trailers (:mod:`.grpcframe`). Threads, not asyncio: devd's build path
is synchronous (docker-py), and a build needs exactly one session.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
from collections.abc import Callable, Mapping

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import structlog

from devd.engine.session.grpcframe import Deframer, FrameError, Status, frame, metadata, trailers

_log = structlog.get_logger("devd")
_READ = 65536
_END = object()  # the engine ended its side of a call
_RESET = object()  # the engine cancelled a call
_GONE = object()  # the connection went


class CallError(Exception):
    """Ends a call with ``status`` (raised by a handler)."""

    def __init__(self, status: Status, message: str) -> None:
        super().__init__(message)
        self.status = status


class CallClosed(Exception):
    """The call can no longer be answered: the engine cancelled it, or the connection went."""


Handler = Callable[["Call"], None]
"""Serves one call: reads its requests with ``recv``, answers with ``send``, returns to end
it with OK or raises CallError."""


class Call:
    """One gRPC call the engine made: its method ``path``, request metadata, and streams."""

    def __init__(self, server: Server, stream_id: int, path: str, meta: dict[str, list[str]]):
        self.path = path
        self.metadata = meta
        self._server = server
        self._stream_id = stream_id
        self._inbox: queue.Queue[object] = queue.Queue()
        self._deframer = Deframer()
        self._answered = False

    def recv(self, timeout: float | None = None) -> bytes | None:
        """The next request message; None when the engine has sent its last. Raises
        CallClosed if the call was cancelled, queue.Empty after ``timeout`` seconds."""
        item = self._inbox.get(timeout=timeout)
        if item is _END:
            self._inbox.put(_END)  # asked again: still the end
            return None
        if item is _RESET or item is _GONE:
            self._inbox.put(item)
            what = "the engine cancelled the call" if item is _RESET else "the session closed"
            raise CallClosed(what)
        assert isinstance(item, bytes)
        return item

    def poll(self) -> bytes | None:
        """A request message already received, without waiting; None if there is none (or
        the engine has sent its last)."""
        try:
            return self.recv(timeout=0)
        except queue.Empty:
            return None

    def send(self, message: bytes) -> None:
        """Send one response message (the response headers first, once)."""
        self._server.send(self, frame(message))

    def _deliver(self, data: bytes) -> None:
        try:
            messages = self._deframer.feed(data)
        except FrameError as error:
            _log.debug("session: bad gRPC data", path=self.path, error=str(error))
            self._inbox.put(_RESET)
            return
        for message in messages:
            self._inbox.put(message)


class Server:
    """Serves ``handlers`` (by method path, ``/package.Service/Method``) on ``sock``."""

    def __init__(self, sock: socket.socket, handlers: Mapping[str, Handler]) -> None:
        self._sock = sock
        self._handlers = dict(handlers)
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        self._h2 = h2.connection.H2Connection(config=config)
        self._lock = threading.Condition()
        self._calls: dict[int, Call] = {}
        self._closed = False
        self.bytes_written = 0
        """Bytes devd has written to the connection (HTTP/2 framing included)."""
        self.failures: list[str] = []
        """The reason of each call that failed (its handler raised), in order."""

    def serve(self, initial: bytes = b"") -> None:
        """Answer calls until the connection closes (run this on a thread)."""
        with self._lock:
            self._h2.initiate_connection()
            self._flush()
        data = initial
        try:
            while True:
                if data:
                    self._receive(data)
                data = self._sock.recv(_READ)
                if not data:
                    break
        except (OSError, h2.exceptions.ProtocolError) as error:
            _log.debug("session connection ended", error=str(error))
        finally:
            self._shut()

    def close(self) -> None:
        """Close the connection: every call still open ends, as if the engine went."""
        with self._lock:
            if not self._closed:
                try:
                    self._h2.close_connection()
                    self._flush()
                except (OSError, h2.exceptions.ProtocolError):
                    pass
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._shut()

    def send(self, call: Call, data: bytes) -> None:
        """Queue ``data`` on ``call``'s stream as the flow-control windows allow, waiting for
        more window when there is none. Raises CallClosed once the stream or the connection
        is gone."""
        with self._lock:
            self._respond(call)
            view = memoryview(data)
            while view:
                self._check_open(call)
                window = min(
                    self._h2.local_flow_control_window(call._stream_id),
                    self._h2.max_outbound_frame_size,
                )
                if window <= 0:
                    self._lock.wait(timeout=1.0)
                    continue
                self._h2.send_data(call._stream_id, view[:window].tobytes())
                view = view[window:]
                self._flush()

    def _respond(self, call: Call) -> None:
        if not call._answered:
            self._check_open(call)
            headers = [(":status", "200"), ("content-type", "application/grpc")]
            self._h2.send_headers(call._stream_id, headers)
            call._answered = True

    def _finish(self, call: Call, status: Status, message: str) -> None:
        with self._lock:
            if self._closed or call._stream_id not in self._calls:
                return
            try:
                self._respond(call)
                self._h2.send_headers(call._stream_id, trailers(status, message), end_stream=True)
                self._flush()
            except (OSError, CallClosed, h2.exceptions.ProtocolError) as error:
                _log.debug("session: could not end a call", path=call.path, error=str(error))
            finally:
                self._calls.pop(call._stream_id, None)

    def _check_open(self, call: Call) -> None:
        if self._closed or call._stream_id not in self._calls:
            raise CallClosed("the session closed")

    def _flush(self) -> None:
        data = self._h2.data_to_send()
        if data:
            self._sock.sendall(data)
            self.bytes_written += len(data)

    def _receive(self, data: bytes) -> None:
        with self._lock:
            events = self._h2.receive_data(data)
            for event in events:
                self._event(event)
            self._flush()
            self._lock.notify_all()

    def _event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            self._start(event.stream_id, [(str(k), str(v)) for k, v in event.headers or ()])
        elif isinstance(event, h2.events.DataReceived):
            assert event.stream_id is not None
            assert event.data is not None
            self._h2.acknowledge_received_data(event.flow_controlled_length or 0, event.stream_id)
            call = self._calls.get(event.stream_id)
            if call is not None:
                call._deliver(event.data)
        elif isinstance(event, h2.events.StreamEnded):
            call = self._calls.get(event.stream_id or 0)
            if call is not None:
                call._inbox.put(_END)
        elif isinstance(event, h2.events.StreamReset):
            call = self._calls.pop(event.stream_id or 0, None)
            if call is not None:
                call._inbox.put(_RESET)

    def _start(self, stream_id: int, headers: list[tuple[str, str]]) -> None:
        path = dict(headers).get(":path", "")
        call = Call(self, stream_id, path, metadata(headers))
        self._calls[stream_id] = call
        handler = self._handlers.get(path)
        if handler is None:
            threading.Thread(
                target=self._finish,
                args=(call, Status.UNIMPLEMENTED, f"devd does not serve {path}"),
                daemon=True,
            ).start()
            return
        name = f"devd-session{path.replace('/', '-')}"
        threading.Thread(target=self._run, args=(handler, call), name=name, daemon=True).start()

    def _run(self, handler: Handler, call: Call) -> None:
        try:
            handler(call)
        except CallError as error:
            self._note_failure(call, str(error))
            self._finish(call, error.status, str(error))
        except CallClosed as error:
            self._note_failure(call, str(error))
        except Exception as error:  # a handler's bug: end the call, never the session
            _log.debug("session handler failed", path=call.path, exc_info=True)
            self._note_failure(call, f"{type(error).__name__}: {error}")
            self._finish(call, Status.INTERNAL, f"devd: {type(error).__name__}: {error}")
        else:
            self._finish(call, Status.OK, "")

    def _note_failure(self, call: Call, reason: str) -> None:
        with self._lock:
            self.failures.append(f"{call.path}: {reason}")

    def _shut(self) -> None:
        with self._lock:
            self._closed = True
            calls, self._calls = list(self._calls.values()), {}
            self._lock.notify_all()
        for call in calls:
            call._inbox.put(_GONE)
        with contextlib.suppress(OSError):
            self._sock.close()
