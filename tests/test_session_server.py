"""devd.engine.session.server: the gRPC server on an HTTP/2 connection, driven by an ``h2``
client over a socket pair (the engine's role), without an engine."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import h2.config
import h2.connection
import h2.events
import pytest

from devd.engine.session.grpcframe import Deframer, Status, frame
from devd.engine.session.server import Call, CallClosed, CallError, Server


class _Engine:
    """The HTTP/2 client side: makes calls, collects each stream's messages and trailers,
    and grants flow-control window as it reads (as gRPC's client does)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        )
        self.h2.initiate_connection()
        self.sock.sendall(self.h2.data_to_send())
        self.messages: dict[int, list[bytes]] = {}
        self.trailers: dict[int, dict[str, str]] = {}
        self._deframers: dict[int, Deframer] = {}

    def call(self, path: str, *requests: bytes, end: bool = True, meta: tuple = ()) -> int:
        stream = self.h2.get_next_available_stream_id()
        headers = [
            (":method", "POST"), (":scheme", "http"), (":path", path),
            (":authority", "localhost"), ("content-type", "application/grpc"),
            ("te", "trailers"), *meta,
        ]  # fmt: skip
        self.h2.send_headers(stream, headers, end_stream=not requests and end)
        for index, request in enumerate(requests):
            last = end and index == len(requests) - 1
            self.h2.send_data(stream, frame(request), end_stream=last)
        self.sock.sendall(self.h2.data_to_send())
        self.messages[stream] = []
        self._deframers[stream] = Deframer()
        return stream

    def until_done(self, stream: int) -> None:
        while stream not in self.trailers:
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError("the server closed the connection")
            for event in self.h2.receive_data(data):
                if isinstance(event, h2.events.DataReceived):
                    sid = event.stream_id
                    self.messages[sid] += self._deframers[sid].feed(event.data)
                    self.h2.acknowledge_received_data(event.flow_controlled_length, sid)
                elif isinstance(event, h2.events.TrailersReceived):
                    self.trailers[event.stream_id] = dict(event.headers)
            self.sock.sendall(self.h2.data_to_send())


@pytest.fixture
def serve() -> Iterator[object]:
    started: list[tuple[Server, threading.Thread, socket.socket]] = []

    def start(handlers: dict) -> tuple[_Engine, Server]:
        ours, theirs = socket.socketpair()
        theirs.settimeout(10)
        server = Server(ours, handlers)
        thread = threading.Thread(target=server.serve, daemon=True)
        thread.start()
        started.append((server, thread, theirs))
        return _Engine(theirs), server

    yield start
    for server, thread, theirs in started:
        server.close()
        theirs.close()
        thread.join(timeout=5)


def _echo(call: Call) -> None:
    while (message := call.recv()) is not None:
        call.send(message[::-1])


def test_a_call_gets_its_answers_and_ok(serve) -> None:  # type: ignore[no-untyped-def]
    """A streaming call: each request answered in order, then grpc-status 0."""
    engine, _ = serve({"/t.S/Echo": _echo})
    stream = engine.call("/t.S/Echo", b"abc", b"", b"xy")
    engine.until_done(stream)
    assert engine.messages[stream] == [b"cba", b"", b"yx"]
    assert engine.trailers[stream]["grpc-status"] == "0"


def test_an_unknown_method_is_unimplemented(serve) -> None:  # type: ignore[no-untyped-def]
    """A method devd does not serve ends at once with UNIMPLEMENTED (12), which lets the
    engine fall back (Auth/FetchToken)."""
    engine, _ = serve({})
    stream = engine.call("/moby.filesync.v1.Auth/FetchToken", b"")
    engine.until_done(stream)
    assert engine.trailers[stream]["grpc-status"] == str(int(Status.UNIMPLEMENTED))


def test_a_handlers_error_is_its_status(serve) -> None:  # type: ignore[no-untyped-def]
    """CallError ends the call with its status and message; any other exception with
    INTERNAL; either is recorded, and the connection serves on."""

    def not_found(call: Call) -> None:
        raise CallError(Status.NOT_FOUND, "secret token not found")

    def broken(call: Call) -> None:
        raise RuntimeError("bug")

    engine, server = serve({"/t.S/A": not_found, "/t.S/B": broken, "/t.S/Echo": _echo})
    first, second = engine.call("/t.S/A", b""), engine.call("/t.S/B", b"")
    engine.until_done(first)
    engine.until_done(second)
    assert engine.trailers[first]["grpc-status"] == "5"
    assert engine.trailers[first]["grpc-message"] == "secret token not found"
    assert engine.trailers[second]["grpc-status"] == str(int(Status.INTERNAL))
    assert sorted(server.failures) == [
        "/t.S/A: secret token not found",
        "/t.S/B: RuntimeError: bug",
    ]
    third = engine.call("/t.S/Echo", b"ok")
    engine.until_done(third)
    assert engine.messages[third] == [b"ko"]


def test_answers_beyond_the_window_wait_for_it(serve) -> None:  # type: ignore[no-untyped-def]
    """An answer of several megabytes (the initial window is 64 KiB) arrives whole: the
    sender waits for the window the reader grants, in order."""
    payload = bytes(range(256)) * 4096  # 1 MiB

    def big(call: Call) -> None:
        call.recv()
        for _ in range(3):
            call.send(payload)

    engine, server = serve({"/t.S/Big": big})
    stream = engine.call("/t.S/Big", b"")
    engine.until_done(stream)
    assert engine.messages[stream] == [payload] * 3
    assert server.bytes_written > 3 * len(payload)


def test_a_closed_connection_ends_waiting_calls(serve) -> None:  # type: ignore[no-untyped-def]
    """A handler waiting for the engine's next message gets CallClosed when the connection
    goes, and so does one sending."""
    outcome: list[str] = []
    waiting = threading.Event()

    def wait(call: Call) -> None:
        waiting.set()
        try:
            call.recv()
            call.recv()
        except CallClosed as error:
            outcome.append(str(error))
            raise

    engine, _ = serve({"/t.S/Wait": wait})
    engine.call("/t.S/Wait", b"first", end=False)
    assert waiting.wait(5)
    engine.sock.close()
    for _ in range(50):
        if outcome:
            break
        threading.Event().wait(0.1)
    assert outcome == ["the session closed"]
