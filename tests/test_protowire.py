"""devd.core.protowire: the protobuf wire format, written and read back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devd.core import protowire
from devd.core.protowire import WireError


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_a_varint_reads_back(value: int) -> None:
    """Every unsigned 64-bit value survives a varint write and read, and the read ends where
    the varint does."""
    data = protowire.varint(value)
    assert protowire.read_varint(data + b"\x01", 0) == (value, len(data))


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_a_negative_int64_reads_back_through_signed(value: int) -> None:
    """int64 goes as its 64-bit two's complement (ten bytes when negative), as Go writes it."""
    (number, raw), *_ = protowire.fields(protowire.varint(8) + protowire.varint(value))
    assert number == 1
    assert protowire.signed(int(raw)) == value


def test_defaults_are_left_out() -> None:
    """proto3 writes no field holding its default: 0, empty bytes, empty text."""
    assert protowire.int_field(3, 0) == b""
    assert protowire.bytes_field(4, b"") == b""
    assert protowire.text_field(1, "") == b""
    assert protowire.bytes_field(2, b"", always=True) == b"\x12\x00"


def test_fields_come_out_in_order_with_their_numbers() -> None:
    """A message of several kinds of field reads as (number, value) pairs in order; fixed-size
    fields, which devd never writes, still read (and so are skipped by callers)."""
    data = (
        protowire.text_field(1, "a/b")
        + protowire.int_field(2, 0o644)
        + bytes([0x19]) + (7).to_bytes(8, "little")  # field 3, fixed64
        + bytes([0x25]) + (9).to_bytes(4, "little")  # field 4, fixed32
        + protowire.map_field(10, [("user.k", b"v")])
    )  # fmt: skip
    assert list(protowire.fields(data)) == [
        (1, b"a/b"),
        (2, 0o644),
        (3, 7),
        (4, 9),
        (10, b"\n\x06user.k\x12\x01v"),
    ]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x0a\x05ab", "ends inside a field"),
        (b"\x08", "ends inside a number"),
        (b"\x08" + b"\xff" * 11, "ends inside a number"),
        (b"\x0b", "wire type 3"),
        (b"\x19\x00", "ends inside a field"),
    ],
)
def test_bytes_that_are_no_message_raise_wire_error(data: bytes, reason: str) -> None:
    """Truncated fields and numbers, and groups, raise WireError saying which."""
    with pytest.raises(WireError, match=reason):
        list(protowire.fields(data))


def test_text_refuses_a_number() -> None:
    """A string field holding a varint is an error, not a str of the number."""
    with pytest.raises(WireError, match="number where text belongs"):
        protowire.text(5)
