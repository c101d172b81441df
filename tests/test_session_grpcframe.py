"""devd.engine.session.grpcframe: gRPC's message framing, trailers and metadata."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devd.engine.session.grpcframe import (
    Deframer,
    FrameError,
    Status,
    frame,
    metadata,
    trailers,
)


def test_a_frame_is_flag_length_message() -> None:
    """Uncompressed flag 0, the length in 4 big-endian bytes, the message."""
    assert frame(b"abc") == b"\x00\x00\x00\x00\x03abc"
    assert frame(b"") == b"\x00\x00\x00\x00\x00"


@given(st.lists(st.binary(max_size=300), max_size=8), st.integers(min_value=1, max_value=50))
def test_messages_come_out_whatever_the_pieces(messages: list[bytes], piece: int) -> None:
    """Framed messages fed in pieces of any size come out whole and in order, nothing left."""
    data = b"".join(frame(message) for message in messages)
    deframer = Deframer()
    out: list[bytes] = []
    for start in range(0, len(data), piece):
        out += deframer.feed(data[start : start + piece])
    assert out == messages
    assert deframer.pending == 0


def test_a_compressed_message_is_refused() -> None:
    """devd offers no compression, so a compressed message is an error, not garbage."""
    with pytest.raises(FrameError, match="compressed"):
        Deframer().feed(b"\x01\x00\x00\x00\x01x")


def test_an_oversized_message_is_refused() -> None:
    """A length beyond MAX_MESSAGE is refused before any of it is buffered."""
    with pytest.raises(FrameError, match="bytes"):
        Deframer().feed(b"\x00\x7f\xff\xff\xff")


def test_trailers() -> None:
    """OK is the status alone; an error's message goes percent-encoded (spaces kept)."""
    assert trailers(Status.OK) == [("grpc-status", "0")]
    assert trailers(Status.NOT_FOUND, "secret a%b\n not found") == [
        ("grpc-status", "5"),
        ("grpc-message", "secret a%25b%0A not found"),
    ]


def test_metadata_keeps_repeated_keys_and_drops_protocol_headers() -> None:
    """The file sync sends a key once per value; pseudo-headers and gRPC's own go."""
    headers = [
        (":path", "/moby.filesync.v1.FileSync/DiffCopy"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        ("Exclude-Patterns", "a"),
        ("exclude-patterns", "b"),
        ("dir-name", "context"),
    ]
    assert metadata(headers) == {"exclude-patterns": ["a", "b"], "dir-name": ["context"]}
