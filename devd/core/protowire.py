"""The protobuf wire format, both ways: the few dozen lines devd needs to read and write the
messages of BuildKit's trace (:mod:`devd.core.buildkit_trace`) and of its session
(:mod:`devd.engine.session`).

A message is a sequence of fields, each a key (``field_number << 3 | wire_type``, a varint)
then a value: a varint (wire type 0), 8 or 4 little-endian bytes (1, 5), or a length-prefixed
run of bytes (2: strings, bytes, nested messages, packed numbers). proto3 leaves out fields
that hold their default (0, "", empty), so the writers here do too.

Decisions: no ``protobuf`` package. It needs each schema compiled or described in code, and
devd reads and writes about a dozen small messages whose field numbers are fixed by the public
.proto files; a reader and a writer of the format are shorter than those descriptions. Fields
a reader does not know are skipped by wire type, so newer peers that add fields decode the
same. Pure: bytes in, values out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5

Field = tuple[int, int | bytes]
"""(field number, value): an int for varint and fixed-size fields, bytes for the others."""


class WireError(ValueError):
    """Bytes that are not a protobuf message."""


def fields(data: bytes) -> Iterator[Field]:
    """Each field of ``data`` in order; raises WireError at bytes that end mid-field or use a
    wire type proto3 no longer has (groups)."""
    position = 0
    while position < len(data):
        key, position = read_varint(data, position)
        number, wire = key >> 3, key & 7
        if wire == VARINT:
            value, position = read_varint(data, position)
            yield number, value
        elif wire == LENGTH:
            length, position = read_varint(data, position)
            end = position + length
            if end > len(data):
                raise WireError("the message ends inside a field")
            yield number, data[position:end]
            position = end
        elif wire in (FIXED64, FIXED32):
            size = 8 if wire == FIXED64 else 4
            if position + size > len(data):
                raise WireError("the message ends inside a field")
            yield number, int.from_bytes(data[position : position + size], "little")
            position += size
        else:
            raise WireError(f"wire type {wire}, which devd cannot read")


def read_varint(data: bytes, position: int) -> tuple[int, int]:
    """The varint at ``position`` and the position after it."""
    result = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise WireError("the message ends inside a number")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def varint(value: int) -> bytes:
    """``value`` as a varint; a negative one as its 64-bit two's complement (int64's way)."""
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def signed(value: int) -> int:
    """An int64 field's value from the unsigned varint the reader gives."""
    return value - (1 << 64) if value >= 1 << 63 else value


def int_field(number: int, value: int) -> bytes:
    """A varint field (int32/64, uint32/64, bool, enum); nothing for 0."""
    return varint(number << 3 | VARINT) + varint(value) if value else b""


def bytes_field(number: int, value: bytes, *, always: bool = False) -> bytes:
    """A length-delimited field; nothing for empty bytes unless ``always`` (a message field
    that is set but empty)."""
    if not value and not always:
        return b""
    return varint(number << 3 | LENGTH) + varint(len(value)) + value


def text_field(number: int, value: str) -> bytes:
    return bytes_field(number, value.encode("utf-8", "surrogateescape"))


def map_field(number: int, entries: Iterable[tuple[str, bytes]]) -> bytes:
    """A ``map<string, bytes>`` field: one entry message (key 1, value 2) per item."""
    return b"".join(
        bytes_field(number, text_field(1, key) + bytes_field(2, value), always=True)
        for key, value in entries
    )


def text(value: int | bytes) -> str:
    """A string field's value; raises WireError for a number."""
    if not isinstance(value, bytes):
        raise WireError("a number where text belongs")
    return value.decode("utf-8", "surrogateescape")
