"""The Linux reader: one inotify instance watching the directories of a tree.

What inotify does that shaped it:

* A watch covers one directory, not its subdirectories: a new directory gets its watch when
  its creation is read, and files made in it before that are found by listing it *after* the
  watch is in place, so ``mkdir -p a/b && echo > a/b/c`` reports ``a/b/c`` and nothing made
  between the two is missed.
* A directory moved away keeps its watches under their old names: they are dropped, and the
  directory is reported; one moved in is listed, and everything in it reported.
* Symlinks are never followed (``IN_DONT_FOLLOW``, and listing stamps links as links): a link
  to a directory outside the tree, or a loop, costs nothing.
* When the kernel's queue overflows (``IN_Q_OVERFLOW``, events were lost), the tree is listed
  again and compared with the stamps devd keeps of it (:mod:`devd.snapshot`): what changed is
  reported, and a warning says so.
* ``inotify_add_watch`` fails with ENOSPC at ``fs.inotify.max_user_watches``:
  :class:`WatchLimitReached` says so (the caller falls back to polling).
* A directory devd may not read (or watch) is reported once, by path, and skipped.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import structlog

from devd import snapshot
from devd.errors import DevdError
from devd.snapshot import Snapshot, join

Prune = snapshot.Enter  # a project-relative directory (never "") -> whether to skip it

IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_EXCL_UNLINK = 0x04000000
IN_ISDIR = 0x40000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = 0o2000000

WATCH_MASK = (
    IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE
    | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK
)  # fmt: skip
_EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len; then the name
_READ_SIZE = 256 * 1024
_WRITE_OPEN = IN_CREATE | IN_MODIFY
_WRITE_DONE = IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO
_WHOLE = IN_CLOSE_WRITE | IN_MOVED_TO
_NEW_DIR = IN_CREATE | IN_MOVED_TO
_GONE_DIR = IN_DELETE | IN_MOVED_FROM
_SYSCTL = "/proc/sys/fs/inotify"

_log = structlog.get_logger("devd")


class WatchLimitReached(DevdError):
    """The kernel refused another inotify watch (``fs.inotify.max_user_watches``)."""

    exit_code = 2


class _Libc:
    """The three inotify calls, through ctypes (the standard library has no binding)."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self.init1 = libc.inotify_init1
        self.init1.argtypes = [ctypes.c_int]
        self.init1.restype = ctypes.c_int
        self.add_watch = libc.inotify_add_watch
        self.add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        self.add_watch.restype = ctypes.c_int
        self.rm_watch = libc.inotify_rm_watch
        self.rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
        self.rm_watch.restype = ctypes.c_int


_libc: _Libc | None = None


def _load_libc() -> _Libc | None:
    global _libc
    if _libc is None and sys.platform.startswith("linux"):
        try:
            _libc = _Libc()
        except (OSError, AttributeError):
            return None
    return _libc


class Inotify:
    """One inotify instance watching the directories of a tree (``root`` and below, minus
    the pruned ones). :meth:`read` turns what the kernel queued into changed paths.

    ``stamps`` holds a stamp of every path listed so far (refreshed by :meth:`refresh`):
    what an overflow is compared against, and where a polling watcher taking over starts.
    """

    def __init__(self, root: Path, prune: Prune | None = None) -> None:
        libc = _load_libc()
        if libc is None:
            raise OSError(errno.ENOSYS, "inotify is not available")
        self._libc = libc
        self.root = root
        self._prune = prune
        self._queue_limit = _sysctl("max_queued_events")  # the kernel reads it at init too
        fd = libc.init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            number = ctypes.get_errno()
            raise OSError(number, f"inotify_init1: {os.strerror(number)}")
        self.fd = fd
        self.dirs: dict[int, str] = {}  # watch descriptor -> directory ("" is the root)
        self._wds: dict[str, int] = {}
        self.pruned: set[str] = set()
        self.writing: set[str] = set()  # files modified and not closed since (in the batch)
        # files whose last event left them whole: closed after writing, or renamed into place
        self.whole: set[str] = set()
        self.stamps: Snapshot = {}
        self.overflows = 0
        self._unreadable: set[str] = set()  # reported once each
        try:
            self.add_tree("")
            if "" not in self._wds:
                raise FileNotFoundError(errno.ENOENT, "cannot watch the project", str(root))
        except BaseException:
            self.close()
            raise

    @staticmethod
    def available() -> bool:
        return _load_libc() is not None

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Inotify:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- watches ------------------------------------------------------------------------------

    def add_tree(self, top: str) -> list[str]:
        """Watch ``top`` and the directories under it (not pruned ones); the files found.

        Each directory is listed after its watch is in place, so nothing made in between is
        missed. The stamps are kept only once the whole tree is watched: if the watch limit
        stops it half-way, whoever takes over still sees these files as new."""
        found = dict(snapshot.walk(self.root, top, self._enter, self._unreadable_path))
        self.stamps.update(found)
        return [path for path, stamp in found.items() if stamp != snapshot.DIRECTORY]

    def _enter(self, directory: str) -> bool:
        return not (directory and self._pruned(directory)) and self._add(directory)

    def _pruned(self, directory: str) -> bool:
        if self._prune is not None and self._prune(directory):
            self.pruned.add(directory)
            return True
        self.pruned.discard(directory)
        return False

    def _add(self, directory: str) -> bool:
        wd = self._libc.add_watch(self.fd, os.fsencode(self._host(directory)), WATCH_MASK)
        if wd < 0:
            number = ctypes.get_errno()
            if number == errno.ENOSPC:
                raise WatchLimitReached(_limit_message(len(self.dirs), self._host(directory)))
            if number not in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                # unreadable, a name too long for the kernel...: said once, and skipped
                self._unreadable_path(directory, OSError(number, os.strerror(number)))
            return False  # or gone already, or not a directory (any more)
        stale = self.dirs.get(wd)
        if stale is not None and stale != directory:
            self._wds.pop(stale, None)
        self.dirs[wd] = directory
        self._wds[directory] = wd
        return True

    def _unreadable_path(self, path: str, error: OSError) -> None:
        if path not in self._unreadable:
            self._unreadable.add(path)
            warn_unreadable(path, error)

    def drop_tree(self, top: str) -> None:
        """Stop watching ``top`` and everything under it (it moved away)."""
        prefix = top + "/"
        for directory in [d for d in self._wds if d == top or d.startswith(prefix)]:
            wd = self._wds.pop(directory)
            self.dirs.pop(wd, None)
            self._libc.rm_watch(self.fd, wd)  # fails harmlessly if the kernel dropped it
        self.pruned = {d for d in self.pruned if d != top and not d.startswith(prefix)}

    def recheck_pruned(self) -> None:
        """Watch the pruned directories that ``prune`` no longer prunes."""
        if self._prune is None:
            return
        for directory in sorted(self.pruned):
            if directory in self.pruned and not self._prune(directory):
                self.pruned.discard(directory)
                self.add_tree(directory)

    def refresh(self, paths: Iterable[str]) -> None:
        """Stamp ``paths`` as they are now (a batch of them was handed over)."""
        for path in paths:
            current = snapshot.stamp_of(self.root, path)
            if current is None:
                self.stamps.pop(path, None)
            else:
                self.stamps[path] = current

    def rescan(self) -> list[str]:
        """List the whole tree again (watching any directory not watched yet) and return
        what differs from the stamps: what lost events would have said, or more."""
        old, self.stamps = self.stamps, {}
        self.add_tree("")
        return sorted(snapshot.changed(old, self.stamps))

    def _host(self, directory: str) -> str:
        return snapshot.host_path(self.root, directory)

    # -- events -------------------------------------------------------------------------------

    def read(self) -> list[str]:
        """The paths changed according to what the kernel has queued (empty if nothing)."""
        changed: list[str] = []
        while True:
            try:
                data = os.read(self.fd, _READ_SIZE)
            except BlockingIOError:
                return changed
            if not data:
                return changed
            changed.extend(self._parse(data))

    def _parse(self, data: bytes) -> Iterator[str]:
        offset = 0
        while offset + _EVENT.size <= len(data):
            wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
            name = data[offset + _EVENT.size : offset + _EVENT.size + length].rstrip(b"\0")
            offset += _EVENT.size + length
            if mask & IN_Q_OVERFLOW:
                yield from self._overflowed()
                continue
            directory = self.dirs.get(wd)
            if directory is None:
                continue  # a watch already dropped (its directory moved away or is gone)
            if mask & IN_IGNORED:
                self.dirs.pop(wd, None)
                if self._wds.get(directory) == wd:
                    del self._wds[directory]
                continue
            if not name:
                continue  # the watched directory itself: its parent reports it by name
            path = join(directory, os.fsdecode(name))
            yield path
            if mask & IN_ISDIR:
                if mask & _GONE_DIR:
                    self.drop_tree(path)
                elif mask & _NEW_DIR:
                    yield from self.add_tree(path)
            elif mask & _WRITE_DONE:
                self.writing.discard(path)
                if mask & _WHOLE:
                    self.whole.add(path)
                else:
                    self.whole.discard(path)  # deleted or moved away: maybe back in a moment
            elif mask & _WRITE_OPEN:
                self.writing.add(path)
                self.whole.discard(path)
            else:
                self.whole.discard(path)

    def forget_writes(self) -> None:
        """Drop what :attr:`writing` and :attr:`whole` know (the batch they were for is
        over)."""
        self.writing.clear()
        self.whole.clear()

    def _overflowed(self) -> list[str]:
        self.overflows += 1
        changed = self.rescan()
        _log.warning(
            "inotify's event queue overflowed (fs.inotify.max_queued_events = "
            f"{self._queue_limit}); devd listed the tree again and reports the "
            f"{len(changed)} path(s) that differ",
            paths=len(changed),
        )
        return changed


def warn_unreadable(path: str, error: OSError) -> None:
    """Say that ``path`` (a directory devd may not list or watch) is left out."""
    reason = (error.strerror or str(error)).lower()
    _log.warning(
        f"cannot watch {path or '.'} ({reason}): changes inside it are not seen; "
        "fix its permissions or add it to .dockerignore",
        path=path or ".",
    )


def _sysctl(name: str) -> str:
    try:
        return Path(_SYSCTL, name).read_text().strip()
    except OSError:
        return "?"


def _limit_message(watches: int, directory: str) -> str:
    return (
        f"cannot watch {directory}: the kernel's inotify watch limit is reached "
        f"(fs.inotify.max_user_watches = {_sysctl('max_user_watches')}; devd holds {watches} "
        "watches); raise it (sysctl fs.inotify.max_user_watches=524288) or exclude big "
        "directories in .dockerignore"
    )
