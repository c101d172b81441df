"""devd.container_files without an engine: the sync archive's pieces, on real temp files.

What the engine does with the archive (links, deletions, skipped files) is pinned against
the real engine in tests/test_containers.py.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from devd.engine.files import _add, _archive, _directories
from devd.errors import UnsyncableFile


def _entry(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    return info


def _content(tar: tarfile.TarFile, name: str) -> bytes:
    handle = tar.extractfile(name)
    assert handle is not None
    return handle.read()


def test_a_file_that_shrinks_as_it_is_copied_is_cut_out_of_the_archive_whole() -> None:
    """A file that ends before the size it had when opened (truncated as devd copies it) is
    UnsyncableFile naming it; the archive keeps the entries before and after it intact and
    holds nothing of it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _add(tar, buffer, _entry("app/a.txt", 2), io.BytesIO(b"a\n"), Path("/p/a.txt"))
        with pytest.raises(UnsyncableFile) as caught:
            _add(tar, buffer, _entry("app/big", 5000), io.BytesIO(b"x" * 700), Path("/p/big"))
        _add(tar, buffer, _entry("app/b.txt", 2), io.BytesIO(b"b\n"), Path("/p/b.txt"))
    assert str(caught.value).startswith("cannot sync /p/big: it shrank as it was copied")
    buffer.seek(0)
    with tarfile.open(fileobj=buffer) as tar:
        assert tar.getnames() == ["app/a.txt", "app/b.txt"]
        assert [_content(tar, name) for name in tar.getnames()] == [b"a\n", b"b\n"]


def test_the_archive_leaves_out_what_it_cannot_read_and_says_why(tmp_path: Path) -> None:
    """_archive skips a host directory given as a file (with the reason), counts a missing
    file as vanished, and archives the rest."""
    (tmp_path / "ok.txt").write_text("ok\n")
    copies = {
        "/app/ok.txt": tmp_path / "ok.txt",
        "/app/dir": tmp_path,
        "/app/gone.txt": tmp_path / "gone.txt",
    }
    archive, vanished, skipped = _archive(copies)
    assert isinstance(archive, bytes)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert tar.getnames() == ["app/ok.txt"]
    assert vanished == ["/app/gone.txt"]
    assert [(s.path, s.host) for s in skipped] == [("/app/dir", tmp_path)]


def test_directories_on_the_way_are_listed_once_shallowest_first() -> None:
    """The directories a sync asks the container about: each once, parents before children,
    never ``/`` and never the synced paths themselves."""
    paths = ["/app/www/cfg/motd", "/app/www/index.html", "/top.txt", "/app/lib/x.py"]
    assert _directories(paths) == ["/app", "/app/lib", "/app/www", "/app/www/cfg"]
