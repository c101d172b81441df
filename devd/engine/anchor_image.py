"""The anchor image: what devd imports into the engine to keep a service's network between
its containers (see :mod:`devd.engine.anchors`).

An anchor container only has to exist and run: it holds the network namespace (address,
published ports, name on the project network) that each new container of the service joins.
No image can be pulled here and the project's own images may lack even ``sleep``, so devd
makes the smallest image that can run: one static x86-64 executable of 129 bytes that calls
``pause()`` for ever. It needs no libc and does nothing, so it cannot differ between engines.
A PID 1 without signal handlers ignores SIGTERM: anchors are created with stop signal SIGKILL
(``docker import`` cannot set ``STOPSIGNAL``).

Pure: :func:`anchor_archive` builds the bytes of the archive ``docker import`` reads.
"""

from __future__ import annotations

import hashlib
import io
import struct
import tarfile

# The engine architectures (as ``GET /version`` names them) the executable runs on.
ARCHITECTURES = ("amd64",)
EXECUTABLE = "anchor"
IMAGE_REPOSITORY = "devd-anchor"
LABEL_ANCHOR_IMAGE = "devd.anchor.image"

_BASE = 0x400000  # where the executable is loaded
_HEADERS = 64 + 56  # the ELF header and its one program header
# mov eax, 34 (pause); syscall; jmp back to the mov: pause() returns only for a caught signal.
_CODE = bytes.fromhex("b8220000000f05ebf7")


def executable() -> bytes:
    """A static ELF64 x86-64 executable: one loadable segment, entry right after the headers."""
    size = _HEADERS + len(_CODE)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)  # 64-bit, little-endian, SysV
    header = ident + struct.pack(
        "<HHIQQQIHHHHHH",
        2,  # ET_EXEC
        0x3E,  # EM_X86_64
        1,  # EV_CURRENT
        _BASE + _HEADERS,  # entry point
        64,  # program headers right after this header
        0,  # no section headers
        0,  # flags
        64,  # this header's size
        56,  # a program header's size
        1,  # one program header
        0,
        0,
        0,
    )
    segment = struct.pack(
        "<IIQQQQQQ",
        1,  # PT_LOAD
        5,  # readable and executable
        0,  # the whole file, from its first byte
        _BASE,
        _BASE,
        size,
        size,
        0x1000,
    )
    return header + segment + _CODE


def anchor_archive() -> bytes:
    """The root file system of the anchor image: the executable alone, as a tar archive."""
    body = executable()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        entry = tarfile.TarInfo(EXECUTABLE)
        entry.size = len(body)
        entry.mode = 0o555
        archive.addfile(entry, io.BytesIO(body))
    return buffer.getvalue()


def anchor_tag() -> str:
    """The image's name: its content's digest in the tag, so a changed executable is a new
    image and an old devd's anchor image is never mistaken for this one."""
    digest = hashlib.sha256(anchor_archive()).hexdigest()[:12]
    return f"{IMAGE_REPOSITORY}:{digest}"


def import_changes() -> list[str]:
    """The configuration ``docker import`` gives the image."""
    return [
        f'ENTRYPOINT ["/{EXECUTABLE}"]',
        f"LABEL {LABEL_ANCHOR_IMAGE}=1",
    ]
