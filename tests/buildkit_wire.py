"""Writing BuildKit trace messages for tests: the protobuf wire format of a
``moby.buildkit.v1.StatusResponse`` (the fields devd reads, and one it must skip)."""

from __future__ import annotations

import base64
from typing import Any


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, value: int | bytes | str) -> bytes:
    if isinstance(value, int):
        return varint(number << 3) + value_varint(value)
    data = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(data)) + data


def value_varint(value: int) -> bytes:
    return varint(value)


TIMESTAMP = field(1, 1_700_000_000) + field(2, 5)


def vertex(
    digest: str,
    name: str,
    *,
    inputs: tuple[str, ...] = (),
    cached: bool = False,
    started: bool = False,
    completed: bool = False,
    error: str = "",
) -> bytes:
    data = field(1, digest) + b"".join(field(2, i) for i in inputs) + field(3, name)
    if cached:
        data += field(4, 1)
    if started:
        data += field(5, TIMESTAMP)
    if completed:
        data += field(6, TIMESTAMP)
    if error:
        data += field(7, error)
    return field(1, data)


def log(digest: str, text: str, stream: int = 1) -> bytes:
    return field(3, field(1, digest) + field(2, TIMESTAMP) + field(3, stream) + field(4, text))


def status_field(digest: str) -> bytes:
    """A VertexStatus (field 2), which devd skips."""
    return field(2, field(1, "id") + field(2, digest) + field(4, 100) + field(5, 200))


def trace(*parts: bytes) -> dict[str, Any]:
    """The JSON object the engine sends for one StatusResponse made of ``parts``."""
    return {"id": "moby.buildkit.trace", "aux": base64.b64encode(b"".join(parts)).decode()}


def image(image_id: str) -> dict[str, Any]:
    return {"id": "moby.image.id", "aux": {"ID": image_id}}


def error(message: str) -> dict[str, Any]:
    return {"error": message, "errorDetail": {"message": message}}
