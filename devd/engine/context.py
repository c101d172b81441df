"""The build context the engine receives: a tar of the context directory, minus ignored files.

docker-py does the matching (``exclude_paths``, the same ``PatternMatcher`` devd.core.ignore uses)
and the tar writing (``create_archive``); this module decides what goes in beside the files,
the way the docker CLI does:

* The Dockerfile is always sent. Inside the context it keeps its relative path, even when the
  ignore patterns exclude it. Outside the context its text is added as ``.devd.Dockerfile``.
* A ``.dockerignore`` holding the patterns the caller used is always sent (replacing the
  context's own, if any), so the engine's view matches devd's: after reading the Dockerfile
  the engine deletes the Dockerfile and ``.dockerignore`` from the context when those patterns
  exclude them, so ``COPY . .`` does not pick them up. Files devd adds that the context does
  not have (the generated Dockerfile; ``.dockerignore`` when the context has none) are listed
  in that ``.dockerignore`` for the same reason.

The archive holds what docker-py's ``create_archive`` puts in it (the same entries, modes,
owners and names), with two differences that make it cheap to build on every save:

* modification times are whole seconds, as the docker CLI sends them (moby truncates them),
  so an entry needs no PAX header and the engine's cache keys, which leave times out, are
  the same;
* the header of each entry is kept between builds of the same context, keyed by everything
  it is made of (path, type, mode, owner, size, time, inode), so a rebuild after one save
  only reads the files and writes them out. Excluded trees are never walked at all
  (docker-py's walk skips an excluded directory unless a ``!`` pattern reaches into it).

Symlinks go in as symlinks, whatever they point to (outside the context, nowhere, a loop), as
docker-py and the docker CLI send them. A file or directory that cannot be read fails the
build with a :class:`BuildContextError` naming it (the docker CLI fails too; leaving it out
would build an image the Dockerfile does not describe). A file of :data:`LARGE_FILE` bytes or
more is copied in chunks, never held in memory, and warned about once per path and size: the
classic builder is sent the whole context on every build.
"""

from __future__ import annotations

import functools
import io
import os
import stat
import tarfile
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

import structlog
from docker.utils.build import exclude_paths

try:
    import grp
    import pwd
except ImportError:  # Windows: tarfile then leaves the names empty too
    grp = pwd = None  # type: ignore[assignment]

from devd.core.ignore import DOCKERIGNORE, IgnoreRules
from devd.errors import BuildContextError

GENERATED_DOCKERFILE = ".devd.Dockerfile"
"""Name inside the archive of a Dockerfile that lies outside the context directory."""

LARGE_FILE = 100 * 2**20
"""A file this big in the context is warned about, once per path and size."""

_log = structlog.get_logger("devd")


@dataclass(frozen=True)
class ContextArchive:
    """An uncompressed tar build context in an anonymous temporary file, positioned at 0.

    ``dockerfile`` is the Dockerfile's path inside the archive (``/``-separated), ``size``
    the archive's length in bytes, ``file_count`` its number of regular files (including the
    ``.dockerignore`` and any generated Dockerfile). Close it (or use ``with``) when done.
    """

    fileobj: IO[bytes]
    dockerfile: str
    size: int
    file_count: int

    def close(self) -> None:
        self.fileobj.close()

    def __enter__(self) -> ContextArchive:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


@dataclass(frozen=True)
class _Dockerfile:
    """Where the Dockerfile goes in the archive; ``text`` is set when it must be added."""

    name: str
    text: str | None


def build_context(
    context_dir: Path, dockerfile: Path, excludes: Sequence[str], *, ignore_file: bool = True
) -> ContextArchive:
    """Tar ``context_dir`` minus what ``excludes`` (.dockerignore patterns) exclude.

    ``ignore_file`` False (for BuildKit, which applies no ignore file to a tar body and would
    copy one into the image with ``COPY . .``): no ``.dockerignore`` of devd's is added; the
    context's own goes in as any file, unless ``excludes`` exclude it.

    Raises BuildContextError when the directory or the Dockerfile is missing or a file or
    directory in the context cannot be read (naming it).
    """
    root = _context_root(context_dir)
    placed = _place_dockerfile(root, dockerfile)
    # exclude_paths appends "!<dockerfile>" to the list it is given: hand it a copy.
    try:
        files = exclude_paths(str(root), list(excludes), dockerfile=placed.name)
    except OSError as error:  # a directory it may not list
        raise unreadable(root, error) from error
    if ignore_file:
        extra_files = [(DOCKERIGNORE, _ignore_text(root, excludes, placed))]
    else:
        extra_files = []
        if IgnoreRules(excludes).excludes_own_file():
            files.discard(DOCKERIGNORE)
    if placed.text is not None:
        extra_files.append((placed.name, placed.text))
    fileobj, file_count = _archive(root, sorted(files), extra_files, excludes)
    return ContextArchive(
        fileobj=fileobj,
        dockerfile=placed.name,
        size=_size(fileobj),
        file_count=file_count,
    )


def _context_root(context_dir: Path) -> Path:
    root = context_dir.resolve()
    if not root.is_dir():
        raise BuildContextError(f"{context_dir}: build context is not a directory")
    return root


def _place_dockerfile(root: Path, dockerfile: Path) -> _Dockerfile:
    """Inside the context: its relative path. Outside: the generated name and its text."""
    resolved = dockerfile.resolve()
    if not resolved.is_file():
        raise BuildContextError(f"{dockerfile}: Dockerfile not found")
    if resolved.is_relative_to(root):
        return _Dockerfile(resolved.relative_to(root).as_posix(), None)
    try:
        text = resolved.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise BuildContextError(f"{dockerfile}: cannot read Dockerfile: {error}") from error
    return _Dockerfile(GENERATED_DOCKERFILE, text)


def _ignore_text(root: Path, excludes: Sequence[str], placed: _Dockerfile) -> str:
    """The ``.dockerignore`` sent: the caller's patterns, plus the files devd made up."""
    patterns = list(excludes)
    if not (root / DOCKERIGNORE).is_file():
        patterns.append(DOCKERIGNORE)
    if placed.text is not None:
        patterns.append(placed.name)
    return "".join(f"{pattern}\n" for pattern in patterns)


def _archive(
    root: Path, files: list[str], extra_files: list[tuple[str, str]], excludes: Sequence[str]
) -> tuple[IO[bytes], int]:
    """The uncompressed tar of ``files`` (relative to ``root``) and ``extra_files`` (name,
    text; they replace context files of the same name), and its number of regular files."""
    fileobj = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the caller in ContextArchive
    key = (str(root), tuple(excludes))
    with _HEADERS_LOCK:
        known = _HEADERS.get(key, {})
    writer = _TarWriter(fileobj, known)
    extra_names = {name for name, _ in extra_files}
    try:
        for path in files:
            if path not in extra_names:
                writer.add(root, path)
        for name, text in extra_files:
            writer.add_text(name, text)
        writer.finish()
    except OSError as error:
        fileobj.close()
        raise unreadable(root, error) from error
    except BuildContextError:
        fileobj.close()
        raise
    _warn_large(root, writer.large)
    with _HEADERS_LOCK:
        if len(writer.headers) <= _MAX_KEPT_HEADERS:
            _HEADERS[key] = writer.headers
            while len(_HEADERS) > _MAX_KEPT_CONTEXTS:
                del _HEADERS[next(iter(_HEADERS))]
        else:
            _HEADERS.pop(key, None)
    fileobj.seek(0)
    return fileobj, writer.regular_files


# Entry headers of the last archive of each context (root, excludes), by what they encode.
_HeaderKey = tuple[str, int, int, int, int, int, int, str]
_HEADERS: dict[tuple[str, tuple[str, ...]], dict[_HeaderKey, bytes]] = {}
_HEADERS_LOCK = threading.Lock()
_MAX_KEPT_HEADERS = 50_000  # entries (about 600 bytes each) kept for one context
_MAX_KEPT_CONTEXTS = 8
_BLOCK = tarfile.BLOCKSIZE
_STREAM_FROM = 1 << 20  # files this big are copied in chunks rather than read whole
_CHUNK = 1 << 20


class _TarWriter:
    """Writes tar entries as ``tarfile`` would for ``create_archive``'s TarInfo, reusing the
    headers of ``known`` (and recording every header it writes in ``headers``)."""

    def __init__(self, fileobj: IO[bytes], known: dict[_HeaderKey, bytes]) -> None:
        self._out = fileobj
        self._known = known
        self.headers: dict[_HeaderKey, bytes] = {}
        self.regular_files = 0
        self._inodes: dict[tuple[int, int], str] = {}  # hard-linked files already written
        self.large: list[tuple[str, int]] = []  # files of LARGE_FILE bytes or more: path, size

    def add(self, root: Path, path: str) -> None:
        full = os.path.join(root, path)
        status = os.lstat(full)
        mode = status.st_mode
        if stat.S_ISREG(mode) and status.st_nlink > 1:
            inode = (status.st_dev, status.st_ino)
            first = self._inodes.setdefault(inode, path)
            if first != path:  # a hard link to a file already in the archive
                self._write_info(_info(path, status, tarfile.LNKTYPE, linkname=first))
                return
        if stat.S_ISREG(mode) and status.st_size >= _STREAM_FROM:
            self._add_streamed(full, path, status)
        elif stat.S_ISREG(mode):
            with open(full, "rb") as handle:
                data = handle.read()
            key = _key(path, status, len(data), "")
            self._header(key, lambda: _info(path, status, tarfile.REGTYPE, size=len(data)))
            self._data(data)
            self.regular_files += 1
        elif stat.S_ISDIR(mode):
            key = _key(path, status, 0, "")
            self._header(key, lambda: _info(path, status, tarfile.DIRTYPE))
        elif stat.S_ISLNK(mode):
            target = os.readlink(full)
            key = _key(path, status, 0, target)
            self._header(key, lambda: _info(path, status, tarfile.SYMTYPE, linkname=target))
        elif not stat.S_ISSOCK(mode):  # a FIFO or a device: as tarfile describes it
            with tarfile.open(fileobj=io.BytesIO(), mode="w") as probe:
                info = probe.gettarinfo(full, arcname=path)
            if info is not None:
                info.mtime = int(info.mtime)
                self._write_info(info)

    def _add_streamed(self, full: str, path: str, status: os.stat_result) -> None:
        """A big file, copied in chunks of its size when listed (it is not held in memory);
        one that shrinks meanwhile fails the build (its save brings another)."""
        size = status.st_size
        key = _key(path, status, size, "")
        with open(full, "rb") as handle:
            self._header(key, lambda: _info(path, status, tarfile.REGTYPE, size=size))
            left = size
            while left:
                chunk = handle.read(min(left, _CHUNK))
                if not chunk:
                    raise BuildContextError(
                        f"{full} shrank while it was being sent to the engine; save it again"
                    )
                self._out.write(chunk)
                left -= len(chunk)
        padding = -size % _BLOCK
        if padding:
            self._out.write(b"\0" * padding)
        self.regular_files += 1
        if size >= LARGE_FILE:
            self.large.append((path, size))

    def add_text(self, name: str, text: str) -> None:
        data = text.encode("utf-8")
        info = tarfile.TarInfo(name)
        info.size = len(data)
        self._write_info(info)
        self._data(data)
        self.regular_files += 1

    def finish(self) -> None:
        self._out.write(b"\0" * (2 * _BLOCK))  # the end-of-archive marker, as tarfile writes

    def _header(self, key: _HeaderKey, make: Callable[[], tarfile.TarInfo]) -> None:
        header = self._known.get(key)
        if header is None:
            header = _tobuf(make())
        self.headers[key] = header
        self._out.write(header)

    def _write_info(self, info: tarfile.TarInfo) -> None:
        self._out.write(_tobuf(info))

    def _data(self, data: bytes) -> None:
        self._out.write(data)
        padding = -len(data) % _BLOCK
        if padding:
            self._out.write(b"\0" * padding)


def _key(path: str, status: os.stat_result, size: int, linkname: str) -> _HeaderKey:
    return (
        path, status.st_mode, status.st_uid, status.st_gid, size, int(status.st_mtime),
        status.st_ino, linkname,
    )  # fmt: skip


def _info(
    path: str, status: os.stat_result, kind: bytes, *, size: int = 0, linkname: str = ""
) -> tarfile.TarInfo:
    """The TarInfo ``TarFile.gettarinfo`` makes for ``path``, with a whole-second time."""
    info = tarfile.TarInfo(path)
    info.type = kind
    info.mode = stat.S_IMODE(status.st_mode)
    info.uid, info.gid = status.st_uid, status.st_gid
    info.uname, info.gname = _user_name(status.st_uid), _group_name(status.st_gid)
    info.size = size
    info.mtime = int(status.st_mtime)
    info.linkname = linkname
    return info


def _tobuf(info: tarfile.TarInfo) -> bytes:
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


@functools.lru_cache(maxsize=256)
def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name if pwd is not None else ""
    except KeyError:
        return ""


@functools.lru_cache(maxsize=256)
def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name if grp is not None else ""
    except KeyError:
        return ""


def unreadable(root: Path, error: OSError) -> BuildContextError:
    """The one-line error for a file or directory of the context that cannot be read."""
    where = Path(error.filename) if error.filename else root
    if where.is_relative_to(root) and where != root:
        where = where.relative_to(root)
    reason = (error.strerror or str(error)).lower()
    return BuildContextError(
        f"cannot read {where} in the build context {root} ({reason}); fix its permissions "
        "or add it to .dockerignore"
    )


_WARNED_LARGE: set[tuple[str, int]] = set()


def _warn_large(root: Path, large: list[tuple[str, int]]) -> None:
    """Warn, once per path and size in this process, about each file of at least
    :data:`LARGE_FILE` bytes: the classic builder is sent the whole context on every build."""
    for path, size in large:
        full = os.path.join(root, path)
        if (full, size) in _WARNED_LARGE:
            continue
        _WARNED_LARGE.add((full, size))
        _log.warning(
            f"{full} is {size / 2**20:.0f} MiB and in the build context: it is sent to the "
            "engine on every build; add it to .dockerignore unless the image needs it",
            path=full,
            bytes=size,
        )


def _size(fileobj: IO[bytes]) -> int:
    size = fileobj.seek(0, os.SEEK_END)
    fileobj.seek(0)
    return size
