"""devd.anchor_image: the anchor's executable and the archive ``docker import`` reads."""

from __future__ import annotations

import io
import struct
import subprocess
import tarfile
from pathlib import Path

import pytest

from devd.engine.anchor_image import (
    EXECUTABLE,
    LABEL_ANCHOR_IMAGE,
    anchor_archive,
    anchor_tag,
    executable,
    import_changes,
)


def test_executable_is_a_static_x86_64_elf_whose_entry_is_inside_its_one_segment() -> None:
    """ELF64, little-endian, ET_EXEC for x86-64, one PT_LOAD segment holding the whole file,
    the entry point inside it."""
    body = executable()
    assert body[:4] == b"\x7fELF"
    assert body[4:6] == bytes([2, 1])
    e_type, machine, _, entry, phoff = struct.unpack_from("<HHIQQ", body, 16)
    assert (e_type, machine, phoff) == (2, 0x3E, 64)
    p_type, flags, offset, vaddr, _, filesz, memsz, _ = struct.unpack_from("<IIQQQQQQ", body, 64)
    assert (p_type, flags, offset, filesz, memsz) == (1, 5, 0, len(body), len(body))
    assert vaddr <= entry < vaddr + len(body)


@pytest.mark.skipif(
    subprocess.run(["uname", "-m"], capture_output=True, text=True).stdout.strip() != "x86_64",
    reason="the anchor executable is x86-64; this host is not",
)
def test_executable_runs_until_killed(tmp_path: Path) -> None:
    """On an x86-64 host the executable runs (pauses) until it is killed."""
    path = tmp_path / "anchor"
    path.write_bytes(executable())
    path.chmod(0o755)
    process = subprocess.Popen([str(path)])
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=0.3)
    finally:
        process.kill()
    assert process.wait(timeout=5) == -9


def test_archive_holds_the_executable_alone_readable_and_executable() -> None:
    """The image's root file system: one regular file, mode 0555, the executable's bytes."""
    with tarfile.open(fileobj=io.BytesIO(anchor_archive())) as archive:
        members = archive.getmembers()
        assert [(m.name, m.isfile(), m.mode) for m in members] == [(EXECUTABLE, True, 0o555)]
        extracted = archive.extractfile(members[0])
        assert extracted is not None
        assert extracted.read() == executable()


def test_tag_names_the_content_and_is_stable() -> None:
    """The tag carries a digest of the archive: the same bytes, the same tag."""
    assert anchor_tag() == anchor_tag()
    assert anchor_tag().startswith("devd-anchor:")
    assert len(anchor_tag().split(":")[1]) == 12


def test_import_changes_run_the_executable_and_label_the_image() -> None:
    """The entrypoint is the executable; the label marks the image as devd's anchor image."""
    assert import_changes() == [f'ENTRYPOINT ["/{EXECUTABLE}"]', f"LABEL {LABEL_ANCHOR_IMAGE}=1"]
