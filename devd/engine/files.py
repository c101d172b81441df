"""Syncing files into containers: one archive of the copies, one ``rm -rf`` for the deletions,
and a memo of what each container already got (:class:`Files`); what is at a path in a
container.

What the engine (20.10) does that shaped this module:

* ``put_archive`` creates missing parent directories itself (0755, root). A directory entry in
  the archive for a directory that exists *replaces its mode and owner* (``/tmp`` would lose
  its sticky 1777), so archives hold only the files, never directory entries.
* ``put_archive`` unpacks at ``/`` inside the container and follows a symlink it meets among
  an entry's parent directories: with ``/app/cfg -> /etc`` in the container, ``app/cfg/motd``
  lands in ``/etc``; with a link to a directory the container lacks, the unpacking fails.
  ``rm -rf`` follows such a link too. An entry whose own path is a symlink replaces the link.
* ``HEAD /containers/ID/archive?path=P`` stats ``P`` without following its last component
  (about 2 ms; 404 when there is no ``P``).
"""

from __future__ import annotations

import base64
import errno
import io
import json
import os
import posixpath
import stat
import tarfile
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import docker.errors

from devd.engine.transport import Transport, short_id
from devd.errors import ContainerGone, EngineError, SyncRefused, UnsyncableFile, one_line

_SENT_CONTAINERS = 16  # containers whose synced files Files.put remembers
_GO_MODE_SYMLINK = 1 << 27  # os.ModeSymlink in the mode the engine's stat reports
_STAT_HEADER = "X-Docker-Container-Path-Stat"  # HEAD .../archive: the stat, base64 JSON


@dataclass(frozen=True)
class Skipped:
    """A host file ``put`` left out of a sync, and why (a reason that ends a line)."""

    path: str  # where it would have gone in the container
    host: Path
    reason: str


@dataclass(frozen=True)
class SyncResult:
    """What ``put`` did: how many container paths it copied or deleted, and the host
    files it skipped."""

    changed: int = 0
    skipped: tuple[Skipped, ...] = ()


class Files:
    """Copying and deleting files in containers, through ``transport``. It owns the memo of
    what it sent to each container (under its lock: every service's worker syncs through
    the one engine)."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._sent_lock = threading.Lock()
        self._sent: dict[str, dict[str, tuple[int, ...] | None]] = {}

    def stat(self, container_id: str, path: str) -> dict[str, Any] | None:
        """The engine's stat of ``path`` in the container (a symlink is not followed), or
        None if the container has no such path."""
        api = self._transport.api
        response = api.head(
            api._url("/containers/{0}/archive", container_id),
            params={"path": path},
            timeout=api.timeout,
        )
        if response.status_code == 404:
            return None
        api._raise_for_status(response)
        found: dict[str, Any] = json.loads(base64.b64decode(response.headers[_STAT_HEADER]))
        return found

    def exists(self, container_id: str, path: str) -> bool:
        """Whether ``path`` exists in the container (a symlink counts, not followed)."""
        with self._transport.call(f"looking into container {short_id(container_id)}"):
            return self.stat(container_id, path) is not None

    def put(self, container_id: str, files: Mapping[str, Path | None]) -> SyncResult:
        """Make each container path (absolute) hold a copy of its host file, or not exist
        (None). Copies go in one archive; deletions run first, in one ``rm -rf``. A host file
        that no longer exists counts as a deletion; one that cannot be read (or is neither a
        regular file nor a symlink, or changes as it is read) is skipped and the rest goes on.

        Raises SyncRefused, before touching anything, for a path that is not absolute or has
        a ``..`` component, or when a directory on the way to a path is a symlink in the
        container: a sync never writes through a link, wherever it points.

        A host file this container already got from devd, or that was skipped, unchanged
        since (same inode, size, mode, modification and change times), is not read again: a
        caller that copied a save early and copies the whole batch once it is complete pays
        for it (and hears of a skipped file) once."""
        plan = {_container_path(path): host for path, host in files.items()}
        memo = self._sent_to(container_id)
        stamps = {path: _stamp(Path(host)) for path, host in plan.items() if host is not None}
        copies = {
            path: Path(host)
            for path, host in plan.items()
            if host is not None and (stamps[path] is None or memo.get(path) != stamps[path])
        }
        deletions = [path for path, host in plan.items() if host is None]
        if not copies and not deletions:
            return SyncResult()  # all of it was dealt with already: nothing to ask the engine
        self._refuse_links(container_id, [*copies, *deletions])
        archive, vanished, skipped = _archive(copies)
        deletions += vanished
        if archive is not None or deletions:
            self._send(container_id, deletions, archive)
        for path in deletions:
            memo.pop(path, None)
        for path in copies:
            if path not in vanished and stamps[path] is not None:
                memo[path] = stamps[path]  # sent, or skipped: either way, done until it changes
        changed = len(copies) + len(deletions) - len(vanished) - len(skipped)
        return SyncResult(changed, tuple(skipped))

    def _refuse_links(self, container_id: str, paths: list[str]) -> None:
        """SyncRefused if a directory on the way to one of ``paths`` is a symlink in the
        container: the engine's unpacking and ``rm`` would follow it, out of the target the
        Dockerfile's COPY owns. One stat per distinct directory, shallowest first; none below
        a directory the container lacks."""
        absent: set[str] = set()
        with self._transport.call(f"looking into container {short_id(container_id)}"):
            for directory in _directories(paths):
                if posixpath.dirname(directory) in absent:
                    absent.add(directory)
                    continue
                found = self.stat(container_id, directory)
                if found is None:
                    absent.add(directory)
                elif int(found.get("mode", 0)) & _GO_MODE_SYMLINK:
                    path = next(p for p in paths if p.startswith(directory + "/"))
                    raise SyncRefused(
                        f"cannot sync {path}: {directory} is a symlink in container "
                        f"{short_id(container_id)} (to {found.get('linkTarget') or '?'}), "
                        "and a sync never writes through a link"
                    )

    def _send(
        self, container_id: str, deletions: list[str], archive: bytes | IO[bytes] | None
    ) -> None:
        """Delete ``deletions``, then unpack ``archive`` at the root (closing it if a file)."""
        with self._transport.call(f"syncing files into container {short_id(container_id)}"):
            gone = ContainerGone(
                f"cannot sync files into container {short_id(container_id)}: it is gone"
            )
            if not self._transport.owned(container_id, "sync files into"):
                raise gone
            try:
                if deletions:
                    self._delete(container_id, deletions)
                if archive is not None:
                    self._transport.api.put_archive(container_id, "/", archive)
            except docker.errors.NotFound as error:
                raise gone from error
            finally:
                if archive is not None and not isinstance(archive, bytes):
                    archive.close()

    def _sent_to(self, container_id: str) -> dict[str, tuple[int, ...] | None]:
        """What ``put`` copied into the container, or skipped: container path -> host
        file stamp (kept for the last few containers)."""
        with self._sent_lock:
            memo = self._sent
            if container_id not in memo:
                while len(memo) >= _SENT_CONTAINERS:
                    del memo[next(iter(memo))]
                memo[container_id] = {}
            return memo[container_id]

    def _delete(self, container_id: str, paths: list[str]) -> None:
        exec_id = self._transport.api.exec_create(
            container_id, ["rm", "-rf", "--", *paths], user="0"
        )
        output = self._transport.api.exec_start(exec_id["Id"])
        code = self._transport.api.exec_inspect(exec_id["Id"]).get("ExitCode")
        if code != 0:
            said = one_line(output.decode(errors="replace")) if output else "no output"
            raise EngineError(
                f"deleting {', '.join(paths)} in container {short_id(container_id)} failed "
                f"(rm exited {code}): {said}"
            )


def _container_path(path: str) -> str:
    """``path`` normalised ("//" and "." collapsed); SyncRefused unless it is absolute, below
    the root, and free of ``..`` components."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise SyncRefused(f"refusing to sync {path!r}: container paths must be absolute")
    if "\0" in path or ".." in path.split("/"):
        raise SyncRefused(f"refusing to sync {path!r}: container paths may not contain '..'")
    normal = "/" + posixpath.normpath(path).lstrip("/")
    if normal == "/":
        raise SyncRefused(f"refusing to sync {path!r}: it names the container's root")
    return normal


def _directories(paths: Iterable[str]) -> list[str]:
    """Every directory on the way to ``paths`` (absolute, normalised), but ``/``: shallowest
    first, each once."""
    found = {
        "/".join(parts[:end])
        for parts in (p.split("/") for p in paths)
        for end in range(2, len(parts))
    }
    return sorted(found, key=lambda d: (d.count("/"), d))


def _stamp(host: Path) -> tuple[int, ...] | None:
    """What changes whenever a file's content, mode or identity does; None if it is gone."""
    try:
        status = os.lstat(host)
    except OSError:
        return None
    return (
        status.st_dev, status.st_ino, status.st_mode, status.st_size,
        status.st_mtime_ns, status.st_ctime_ns,
    )  # fmt: skip


_STREAM_FROM = 1 << 20  # a synced file this big is copied in chunks, not read whole
_IN_MEMORY = 16 << 20  # a sync archive bigger than this is spooled to a temporary file


def _through_symlink(host: Path) -> bool:
    """Whether a directory on the way to ``host`` is a symlink (``host`` itself may be)."""
    parent = os.path.abspath(host.parent)
    return os.path.realpath(parent) != parent


def _archive(
    copies: Mapping[str, Path],
) -> tuple[bytes | IO[bytes] | None, list[str], list[Skipped]]:
    """A tar of the host files at their container paths (relative to "/"), or None when
    empty; the container paths whose host file no longer exists; and the files skipped, as
    :func:`_member` says. Up to :data:`_IN_MEMORY` bytes the tar is bytes; a bigger one is a
    temporary file at offset 0 (the caller closes it): a big file is copied through in
    chunks, never held in memory."""
    buffer = tempfile.SpooledTemporaryFile(max_size=_IN_MEMORY)  # noqa: SIM115 - returned
    vanished: list[str] = []
    skipped: list[Skipped] = []
    count = 0
    try:
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path, host in copies.items():
                try:
                    added = _add_member(tar, buffer, path.lstrip("/"), host)
                except UnsyncableFile as error:
                    skipped.append(Skipped(path, host, error.reason))
                    continue
                if not added:
                    vanished.append(path)
                count += added
        size = buffer.tell()
        buffer.seek(0)
        if count and size > _IN_MEMORY:
            return buffer, vanished, skipped
        tar_bytes = buffer.read() if count else None
    except BaseException:
        buffer.close()
        raise
    buffer.close()
    return tar_bytes, vanished, skipped


def _add_member(tar: tarfile.TarFile, buffer: IO[bytes], name: str, host: Path) -> bool:
    """Add ``host``'s entry to ``tar`` (writing to ``buffer``); False if it no longer exists.
    UnsyncableFile, the tar as it was, if it cannot be read or copied whole."""
    member = _member(name, host)
    if member is None:
        return False
    info, content = member
    if content is None:
        tar.addfile(info)
        return True
    with content:
        _add(tar, buffer, info, content, host)
    return True


def _add(
    tar: tarfile.TarFile, buffer: IO[bytes], info: tarfile.TarInfo, content: IO[bytes], host: Path
) -> None:
    """``tar.addfile`` (``tar`` writes to ``buffer``); if the content ends early (the file
    shrank as it was copied), the partial entry is cut off again, so the entries before and
    after it stay whole."""
    start = tar.offset
    try:
        tar.addfile(info, content)
    except OSError as error:  # tarfile: "unexpected end of data"
        buffer.seek(start)
        buffer.truncate()
        tar.offset = start
        reason = "it shrank as it was copied; the next save syncs it"
        raise UnsyncableFile(host, reason) from error


def _member(name: str, host: Path) -> tuple[tarfile.TarInfo, IO[bytes] | None] | None:
    """The tar entry for ``host`` (a regular file, or a symlink kept as a link) and its
    content (open: the caller closes it); None if it no longer exists, or is reached through
    a symlinked directory (the build context holds that link, not what it points to: in the
    image the path does not exist either). UnsyncableFile if it cannot be read, or is
    neither a regular file nor a symlink. Never follows a symlink, never opens anything
    else. A small file is read whole; a big one is left open, to be copied in chunks."""
    if _through_symlink(host):
        return None
    try:
        status = os.lstat(host)
        if stat.S_ISLNK(status.st_mode):
            return _entry(name, status, tarfile.SYMTYPE, linkname=os.readlink(host)), None
        opened = _open_regular(host, status)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:
        raise UnsyncableFile(host, _unreadable(error)) from error
    status, handle = opened
    info = _entry(name, status, tarfile.REGTYPE)
    if status.st_size >= _STREAM_FROM:
        info.size = status.st_size  # its size when opened; a file that shrinks is skipped
        return info, handle
    with handle:
        try:
            content = handle.read()
        except OSError as error:
            raise UnsyncableFile(host, _unreadable(error)) from error
    info.size = len(content)  # what was read, even if the file grew or shrank meanwhile
    return info, io.BytesIO(content)


def _open_regular(host: Path, status: os.stat_result) -> tuple[os.stat_result, IO[bytes]]:
    """``host`` opened for reading, and its status then; UnsyncableFile unless it is a
    regular file (``status`` is its lstat), OSError if it cannot be opened."""
    if not stat.S_ISREG(status.st_mode):
        raise UnsyncableFile(host, _NOT_A_FILE)
    # O_NOFOLLOW: if it became a symlink since lstat, fail rather than read its target.
    fd = os.open(host, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    handle = os.fdopen(fd, "rb")
    try:
        status = os.fstat(handle.fileno())
    except BaseException:
        handle.close()
        raise
    if not stat.S_ISREG(status.st_mode):
        handle.close()
        raise UnsyncableFile(host, _NOT_A_FILE)
    return status, handle


_NOT_A_FILE = "it is neither a regular file nor a symlink; only those are synced"


def _unreadable(error: OSError) -> str:
    """Why a host file cannot be read, ending in what to do."""
    if error.errno == errno.ELOOP:
        return "it became a symlink as it was read; the next save syncs it"
    return f"cannot read it ({error.strerror}); making it readable syncs it"


def _entry(name: str, status: os.stat_result, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = stat.S_IMODE(status.st_mode)
    info.mtime = status.st_mtime
    info.uid = info.gid = 0  # owned by root in the container, as `docker cp` does
    return info
