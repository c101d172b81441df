"""The protobuf messages of BuildKit's session, as devd writes and reads them.

Field numbers from the public .proto files: tonistiigi/fsutil ``types/wire.proto`` and
``types/stat.proto`` (the file sync), grpc ``health/v1/health.proto``, moby/buildkit
``session/auth/auth.proto``, ``session/secrets/secrets.proto`` and
``session/sshforward/ssh.proto``::

    Packet   { PacketType type = 1; Stat stat = 2; uint32 ID = 3; bytes data = 4; }
    Stat     { string path = 1; uint32 mode = 2; uint32 uid = 3; uint32 gid = 4;
               int64 size = 5; int64 modTime = 6; string linkname = 7;
               int64 devmajor = 8; int64 devminor = 9; map<string, bytes> xattrs = 10; }
    HealthCheckResponse { ServingStatus status = 1; }            (SERVING = 1)
    CredentialsRequest  { string Host = 1; }
    CredentialsResponse { string Username = 1; string Secret = 2; }
    GetSecretRequest    { string ID = 1; map<string, string> annotations = 2; }
    GetSecretResponse   { bytes data = 1; }
    CheckAgentRequest   { string ID = 1; }      BytesMessage { bytes data = 1; }

``Stat.mode`` is Go's ``os.FileMode`` (type bits at the top, permissions at the bottom), not
a Unix ``st_mode``: :func:`go_file_mode` converts. ``modTime`` is in nanoseconds.
Pure: values in, bytes out and back.
"""

from __future__ import annotations

import enum
import stat
from dataclasses import dataclass

from devd.core import protowire
from devd.core.protowire import bytes_field, int_field, text_field

# Go's os.FileMode bits (io/fs): the type of the file, then its special permission bits.
MODE_DIR = 1 << 31
MODE_SYMLINK = 1 << 27
MODE_DEVICE = 1 << 26
MODE_NAMED_PIPE = 1 << 25
MODE_SOCKET = 1 << 24
MODE_SETUID = 1 << 23
MODE_SETGID = 1 << 22
MODE_CHAR_DEVICE = 1 << 21
MODE_STICKY = 1 << 20
MODE_TYPE = MODE_DIR | MODE_SYMLINK | MODE_NAMED_PIPE | MODE_SOCKET | MODE_DEVICE
MODE_TYPE |= MODE_CHAR_DEVICE | (1 << 19)  # ModeIrregular


def go_file_mode(st_mode: int) -> int:
    """Go's ``FileInfo.Mode()`` for a Unix ``st_mode``, with the socket bit cleared as fsutil
    clears it."""
    mode = st_mode & 0o777
    kind = stat.S_IFMT(st_mode)
    mode |= {
        stat.S_IFDIR: MODE_DIR,
        stat.S_IFLNK: MODE_SYMLINK,
        stat.S_IFIFO: MODE_NAMED_PIPE,
        stat.S_IFBLK: MODE_DEVICE,
        stat.S_IFCHR: MODE_DEVICE | MODE_CHAR_DEVICE,
    }.get(kind, 0)
    if st_mode & stat.S_ISUID:
        mode |= MODE_SETUID
    if st_mode & stat.S_ISGID:
        mode |= MODE_SETGID
    if st_mode & stat.S_ISVTX:
        mode |= MODE_STICKY
    return mode


def has_data(mode: int) -> bool:
    """Whether a file of Go mode ``mode`` has contents the receiver may ask for (a regular
    file: no type bit set)."""
    return mode & MODE_TYPE == 0


class PacketType(enum.IntEnum):
    STAT = 0
    REQ = 1
    DATA = 2
    FIN = 3
    ERR = 4


@dataclass(frozen=True)
class Stat:
    """One file as the file sync describes it; ``path`` is relative and ``/``-separated."""

    path: str
    mode: int
    uid: int = 0
    gid: int = 0
    size: int = 0
    mod_time: int = 0
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0

    def encode(self) -> bytes:
        return b"".join((
            text_field(1, self.path),
            int_field(2, self.mode),
            int_field(3, self.uid),
            int_field(4, self.gid),
            int_field(5, self.size),
            int_field(6, self.mod_time),
            text_field(7, self.linkname),
            int_field(8, self.devmajor),
            int_field(9, self.devminor),
        ))  # fmt: skip

    @classmethod
    def decode(cls, data: bytes) -> Stat:
        values: dict[int, int | bytes] = dict(protowire.fields(data))  # xattrs (10): dropped
        return cls(
            path=protowire.text(values.get(1, b"")),
            mode=_number(values.get(2, 0)),
            uid=_number(values.get(3, 0)),
            gid=_number(values.get(4, 0)),
            size=protowire.signed(_number(values.get(5, 0))),
            mod_time=protowire.signed(_number(values.get(6, 0))),
            linkname=protowire.text(values.get(7, b"")),
            devmajor=_number(values.get(8, 0)),
            devminor=_number(values.get(9, 0)),
        )


@dataclass(frozen=True)
class Packet:
    """One message of a DiffCopy stream. A STAT packet without ``stat`` ends the listing."""

    type: PacketType
    stat: Stat | None = None
    id: int = 0
    data: bytes = b""

    def encode(self) -> bytes:
        stat_bytes = b"" if self.stat is None else bytes_field(2, self.stat.encode(), always=True)
        return (
            int_field(1, self.type) + stat_bytes + int_field(3, self.id) + bytes_field(4, self.data)
        )

    @classmethod
    def decode(cls, data: bytes) -> Packet:
        kind, stat_value, ident, payload = PacketType.STAT, None, 0, b""
        for number, value in protowire.fields(data):
            if number == 1:
                kind = PacketType(_number(value))
            elif number == 2 and isinstance(value, bytes):
                stat_value = Stat.decode(value)
            elif number == 3:
                ident = _number(value)
            elif number == 4 and isinstance(value, bytes):
                payload = value
        return cls(kind, stat_value, ident, payload)


def first_text(data: bytes, number: int = 1) -> str:
    """The string field ``number`` of a request (a HealthCheckRequest's service, a
    CredentialsRequest's host, a GetSecretRequest's or CheckAgentRequest's id)."""
    for field, value in protowire.fields(data):
        if field == number:
            return protowire.text(value)
    return ""


def first_bytes(data: bytes, number: int = 1) -> bytes:
    """The bytes field ``number`` (a BytesMessage's data)."""
    for field, value in protowire.fields(data):
        if field == number and isinstance(value, bytes):
            return value
    return b""


HEALTH_SERVING = int_field(1, 1)
"""A HealthCheckResponse saying SERVING."""


def credentials_response(username: str, secret: str) -> bytes:
    return text_field(1, username) + text_field(2, secret)


def secret_response(data: bytes) -> bytes:
    return bytes_field(1, data)


def bytes_message(data: bytes) -> bytes:
    return bytes_field(1, data)


def _number(value: int | bytes) -> int:
    if isinstance(value, bytes):
        raise protowire.WireError("bytes where a number belongs")
    return value
