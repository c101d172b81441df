"""devd.engine.session.messages: the session's protobuf messages."""

from __future__ import annotations

import os
import stat

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devd.engine.session import messages
from devd.engine.session.messages import Packet, PacketType, Stat, go_file_mode, has_data

stats = st.builds(
    Stat,
    path=st.text(min_size=1, max_size=40),
    mode=st.integers(min_value=0, max_value=2**32 - 1),
    uid=st.integers(min_value=0, max_value=2**32 - 1),
    gid=st.integers(min_value=0, max_value=2**32 - 1),
    size=st.integers(min_value=0, max_value=2**62),
    mod_time=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    linkname=st.text(max_size=20),
    devmajor=st.integers(min_value=0, max_value=4095),
    devminor=st.integers(min_value=0, max_value=2**20),
)


@given(stats)
def test_a_stat_reads_back(value: Stat) -> None:
    """Every field of a Stat survives encode and decode (negative times included)."""
    assert Stat.decode(value.encode()) == value


@given(
    st.sampled_from(PacketType),
    st.none() | stats,
    st.integers(min_value=0, max_value=2**32 - 1),
    st.binary(max_size=64),
)
def test_a_packet_reads_back(kind: PacketType, value: Stat | None, ident: int, data: bytes) -> None:
    """A Packet of any type, with or without a stat, keeps its id and data."""
    packet = Packet(kind, value, ident, data)
    assert Packet.decode(packet.encode()) == packet


def test_the_empty_stat_that_ends_a_listing_is_no_bytes() -> None:
    """A STAT packet without a stat is the empty message (type 0 is the default), which is
    what fsutil sends to end the listing; a stat that is set but empty still goes."""
    assert Packet(PacketType.STAT).encode() == b""
    assert Packet(PacketType.STAT, Stat("", 0)).encode() == b"\x12\x00"


def test_known_bytes_of_a_stat_packet() -> None:
    """The bytes Go's fsutil writes for a 0644 file ``a`` of 3 bytes (field by field)."""
    packet = Packet(PacketType.STAT, Stat("a", 0o644, size=3, mod_time=1))
    assert packet.encode() == b"\x12\x0a\x0a\x01a\x10\xa4\x03\x28\x03\x30\x01"


@pytest.mark.parametrize(
    ("st_mode", "go_mode"),
    [
        (stat.S_IFREG | 0o644, 0o644),
        (stat.S_IFDIR | 0o755, (1 << 31) | 0o755),
        (stat.S_IFLNK | 0o777, (1 << 27) | 0o777),
        (stat.S_IFIFO | 0o600, (1 << 25) | 0o600),
        (stat.S_IFSOCK | 0o755, 0o755),  # fsutil clears the socket bit
        (stat.S_IFCHR | 0o666, (1 << 26) | (1 << 21) | 0o666),
        (stat.S_IFBLK | 0o660, (1 << 26) | 0o660),
        (stat.S_IFREG | stat.S_ISUID | stat.S_ISGID | 0o755, (1 << 23) | (1 << 22) | 0o755),
        (stat.S_IFDIR | stat.S_ISVTX | 0o777, (1 << 31) | (1 << 20) | 0o777),
    ],
)
def test_go_file_mode(st_mode: int, go_mode: int) -> None:
    """Unix modes become Go's os.FileMode, the type in the top bits."""
    assert go_file_mode(st_mode) == go_mode


def test_only_regular_files_have_data() -> None:
    """The receiver may ask for a regular file's bytes, never a directory's or a link's."""
    assert has_data(go_file_mode(stat.S_IFREG | 0o644))
    assert not has_data(go_file_mode(stat.S_IFDIR | 0o755))
    assert not has_data(go_file_mode(stat.S_IFLNK | 0o777))
    assert has_data(go_file_mode(os.lstat(__file__).st_mode))


def test_request_and_response_fields() -> None:
    """The small messages: a request's first string, a response's fields, BytesMessage."""
    assert messages.first_text(b"\x0a\x0e127.0.0.1:5000") == "127.0.0.1:5000"
    assert messages.first_text(b"") == ""
    assert messages.credentials_response("u", "p") == b"\x0a\x01u\x12\x01p"
    assert messages.secret_response(b"s3") == b"\x0a\x02s3"
    assert messages.first_bytes(messages.bytes_message(b"\x00\x01")) == b"\x00\x01"
    assert messages.HEALTH_SERVING == b"\x08\x01"
