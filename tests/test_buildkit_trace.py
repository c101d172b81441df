"""devd.buildkit_trace: decoding BuildKit's StatusResponse from the wire format."""

from __future__ import annotations

import base64

import pytest

from devd.core.buildkit_trace import Vertex, decode_aux, decode_status
from devd.errors import TraceError
from tests import buildkit_wire as wire


def test_a_vertex_with_every_field_devd_reads() -> None:
    """digest, inputs, name, cached, started, completed and error come out as written."""
    payload = wire.vertex(
        "sha256:a",
        "[2/3] COPY . .",
        inputs=("sha256:x", "sha256:y"),
        cached=True,
        started=True,
        completed=True,
        error="boom",
    )
    status = decode_status(payload)
    assert status.vertexes == (
        Vertex("sha256:a", "[2/3] COPY . .", ("sha256:x", "sha256:y"), True, True, True, "boom"),
    )


def test_a_fresh_vertex_is_neither_started_nor_completed() -> None:
    """A vertex sent before it runs has no timestamps: started and completed are False."""
    (vertex,) = decode_status(wire.vertex("sha256:a", "[1/2] FROM x")).vertexes
    assert (vertex.started, vertex.completed, vertex.cached) == (False, False, False)


def test_logs_keep_their_stream_and_bytes() -> None:
    """A VertexLog gives its vertex, stream (1 stdout, 2 stderr) and the bytes as sent."""
    payload = wire.log("sha256:a", "out\n", 1) + wire.log("sha256:a", "err\xe9\n", 2)
    logs = decode_status(payload).logs
    assert [(log.vertex, log.stream, log.data) for log in logs] == [
        ("sha256:a", 1, b"out\n"),
        ("sha256:a", 2, "err\xe9\n".encode()),
    ]


def test_fields_devd_does_not_read_are_skipped() -> None:
    """VertexStatus messages, fixed-size fields and unknown field numbers (a newer engine's)
    are skipped by their wire type, and the rest still decodes."""
    fixed32 = wire.varint(9 << 3 | 5) + b"\x01\x02\x03\x04"
    fixed64 = wire.varint(10 << 3 | 1) + bytes(8)
    payload = wire.status_field("sha256:a") + fixed32 + fixed64 + wire.vertex("sha256:b", "n")
    payload += wire.field(15, b"future")
    assert [v.digest for v in decode_status(payload).vertexes] == ["sha256:b"]


def test_the_aux_text_is_base64() -> None:
    """decode_aux reads the ``aux`` of a trace object as the engine sends it."""
    chunk = wire.trace(wire.vertex("sha256:a", "[1/1] FROM x", cached=True))
    assert decode_aux(chunk["aux"]).vertexes[0].cached


@pytest.mark.parametrize(
    "aux",
    [
        "not base64!",
        {"ID": "x"},
        base64.b64encode(b"\x0a\x05ab").decode(),  # a field longer than the message
        base64.b64encode(b"\x0a").decode(),  # a length that never comes
        base64.b64encode(b"\x0b").decode(),  # wire type 3 (groups): not in this schema
        base64.b64encode(b"\x0a\x02\x08\x01").decode(),  # a number where text belongs
    ],
)
def test_what_is_not_a_status_response_is_a_trace_error(aux: object) -> None:
    """Garbage raises TraceError (never IndexError or a wrong value)."""
    with pytest.raises(TraceError):
        decode_aux(aux)
