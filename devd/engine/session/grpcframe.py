"""gRPC over HTTP/2, the parts above the HTTP/2 frames: message framing and call status.

Each message on a stream is a 5-byte prefix — a compressed flag (0: devd never compresses,
and does not offer to, so the engine sends none) and the length as 4 big-endian bytes — then
the message. A call ends with trailers carrying ``grpc-status`` (and ``grpc-message``).
Pure: bytes in, messages out.
"""

from __future__ import annotations

import enum
import urllib.parse

PREFIX = 5
MAX_MESSAGE = 16 * 2**20
"""The largest message devd accepts (the engine's are small: packets, requests)."""


class Status(enum.IntEnum):
    """The gRPC status codes devd answers with."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    NOT_FOUND = 5
    PERMISSION_DENIED = 7
    FAILED_PRECONDITION = 9
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14


class FrameError(ValueError):
    """A stream that does not carry gRPC messages."""


def frame(message: bytes) -> bytes:
    """``message`` with its length prefix."""
    return b"\0" + len(message).to_bytes(4, "big") + message


class Deframer:
    """Cuts the messages out of a stream's data, fed in whatever pieces HTTP/2 delivers."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """The messages ``data`` completes; raises FrameError for a compressed or oversized
        one."""
        self._buffer += data
        messages: list[bytes] = []
        while len(self._buffer) >= PREFIX:
            if self._buffer[0] != 0:
                raise FrameError("a compressed gRPC message (devd offers no compression)")
            length = int.from_bytes(self._buffer[1:PREFIX], "big")
            if length > MAX_MESSAGE:
                raise FrameError(f"a gRPC message of {length} bytes")
            if len(self._buffer) < PREFIX + length:
                break
            messages.append(bytes(self._buffer[PREFIX : PREFIX + length]))
            del self._buffer[: PREFIX + length]
        return messages

    @property
    def pending(self) -> int:
        """Bytes of a message not yet complete."""
        return len(self._buffer)


def trailers(status: Status, message: str = "") -> list[tuple[str, str]]:
    """The trailers that end a call: ``grpc-message`` percent-encoded, as gRPC encodes it."""
    fields = [("grpc-status", str(int(status)))]
    if message:
        fields.append(("grpc-message", urllib.parse.quote(message, safe=" ")))
    return fields


def metadata(headers: list[tuple[str, str]]) -> dict[str, list[str]]:
    """A call's metadata: its request headers without the HTTP/2 pseudo-headers and gRPC's
    own, names lower-case, every value kept (the file sync repeats keys)."""
    result: dict[str, list[str]] = {}
    for name, value in headers:
        key = name.lower()
        if key.startswith(":") or key in ("content-type", "te", "user-agent", "grpc-timeout"):
            continue
        result.setdefault(key, []).append(value)
    return result
