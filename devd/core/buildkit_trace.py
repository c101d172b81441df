"""BuildKit's progress trace, decoded: the ``moby.buildkit.trace`` messages of a build stream.

Under BuildKit (``POST /build?version=2``) the engine reports progress as JSON objects
``{"id": "moby.buildkit.trace", "aux": "<base64>"}``; the payload is a protobuf
``moby.buildkit.v1.StatusResponse`` (moby/buildkit ``api/services/control/control.proto``)::

    StatusResponse { repeated Vertex vertexes = 1; repeated VertexStatus statuses = 2;
                     repeated VertexLog logs = 3; }
    Vertex         { string digest = 1; repeated string inputs = 2; string name = 3;
                     bool cached = 4; Timestamp started = 5; Timestamp completed = 6;
                     string error = 7; }
    VertexLog      { string vertex = 1; Timestamp timestamp = 2; int64 stream = 3;
                     bytes msg = 4; }

Decisions: the wire format is read by :mod:`devd.core.protowire` (why not the ``protobuf``
package: see there). Fields devd does not use (statuses, warnings, progress groups,
timestamps' values) are skipped by their wire type, so newer engines that add fields decode
the same. Pure: bytes in, values out.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass

from devd.core import protowire
from devd.errors import TraceError

TRACE_ID = "moby.buildkit.trace"


@dataclass(frozen=True)
class Vertex:
    """One state of a vertex (a build operation): BuildKit sends a vertex again as it starts,
    completes or fails; ``started``/``completed`` say whether those timestamps were set."""

    digest: str
    name: str
    inputs: tuple[str, ...] = ()
    cached: bool = False
    started: bool = False
    completed: bool = False
    error: str = ""


@dataclass(frozen=True)
class VertexLog:
    """Output of a vertex's process: ``stream`` 1 is stdout, 2 stderr."""

    vertex: str
    stream: int
    data: bytes


@dataclass(frozen=True)
class Status:
    """One decoded ``StatusResponse``."""

    vertexes: tuple[Vertex, ...] = ()
    logs: tuple[VertexLog, ...] = ()


def decode_aux(aux: object) -> Status:
    """The Status a trace object's ``aux`` (base64 text) carries; raises TraceError."""
    if not isinstance(aux, str):
        raise TraceError(f"expected base64 text in a BuildKit trace, got {type(aux).__name__}")
    try:
        payload = base64.b64decode(aux, validate=True)
    except (binascii.Error, ValueError) as error:
        raise TraceError(f"a BuildKit trace is not base64: {error}") from error
    return decode_status(payload)


def decode_status(payload: bytes) -> Status:
    """Decode a ``StatusResponse``; raises TraceError for bytes that are not one."""
    vertexes: list[Vertex] = []
    logs: list[VertexLog] = []
    for number, value in _fields(payload):
        if number == 1 and isinstance(value, bytes):
            vertexes.append(_vertex(value))
        elif number == 3 and isinstance(value, bytes):
            logs.append(_log(value))
    return Status(tuple(vertexes), tuple(logs))


def _vertex(data: bytes) -> Vertex:
    digest = name = error = ""
    inputs: list[str] = []
    cached = started = completed = False
    for number, value in _fields(data):
        if number == 1:
            digest = _text(value)
        elif number == 2:
            inputs.append(_text(value))
        elif number == 3:
            name = _text(value)
        elif number == 4:
            cached = bool(value)
        elif number == 5:
            started = True
        elif number == 6:
            completed = True
        elif number == 7:
            error = _text(value)
    return Vertex(digest, name, tuple(inputs), cached, started, completed, error)


def _log(data: bytes) -> VertexLog:
    vertex, stream, message = "", 0, b""
    for number, value in _fields(data):
        if number == 1:
            vertex = _text(value)
        elif number == 3 and isinstance(value, int):
            stream = value
        elif number == 4 and isinstance(value, bytes):
            message = value
    return VertexLog(vertex, stream, message)


def _text(value: int | bytes) -> str:
    if not isinstance(value, bytes):
        raise TraceError("a BuildKit trace has a number where text belongs")
    return value.decode("utf-8", "replace")


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of each field (:func:`devd.core.protowire.fields`), its
    WireError as a TraceError."""
    try:
        yield from protowire.fields(data)
    except protowire.WireError as error:
        raise TraceError(f"a BuildKit trace is not a protobuf message: {error}") from error
