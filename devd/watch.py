"""Watching the project tree: the file-system adapter.

It knows nothing about containers or Dockerfiles: it yields batches of project-relative paths,
one per burst of changes (an editor's save, a ``git checkout`` of thousands of files), closed
by :class:`devd.debounce.Debouncer` once the tree has been quiet for ``quiet_ms``.
``relevant`` lets the caller drop paths that could never matter, so that they neither open
nor prolong a batch. ``prune`` lets it skip whole directories (a ``node_modules`` its ignore
file excludes): they get no watch at all.

On Linux devd talks to inotify itself (:class:`Inotify`): one watch per directory that is not
pruned, and the thread sleeps in ``poll()`` until the kernel has an event, or until the open
batch is due, or :data:`TICK_S` has passed (to notice ``stop``). Nothing polls on the hot path: a
change is seen the moment it is made and a batch is handed over exactly ``quiet_ms`` after
its last change. Elsewhere watchfiles' notifier is used (:func:`_watch_notify`), which checks
for news every :data:`STEP_MS`.

What inotify does that shaped the Linux watcher:

* A watch covers one directory, not its subdirectories: a new directory gets its watch when
  its creation is read, and files made in it before that are found by listing it, so
  ``mkdir -p a/b && echo > a/b/c`` reports ``a/b/c``.
* A directory moved away keeps its watches under their old names: they are dropped, and the
  directory is reported; one moved in is listed, and everything in it reported.
* When the kernel's queue overflows (``IN_Q_OVERFLOW``, events were lost), every directory is
  listed again and every file in it reported: a batch that is too big beats a lost change.
* ``inotify_add_watch`` fails with ENOSPC at ``fs.inotify.max_user_watches``:
  :class:`WatchLimitReached` says so, with the number of watches and what to do.
"""

from __future__ import annotations

import ctypes
import errno
import math
import os
import select
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from devd.debounce import Debouncer
from devd.errors import DevdError
from devd.project import relative

STEP_MS = 10  # watchfiles' notifier: how often it hands over what it has seen
IDLE_TIMEOUT_MS = 5_000  # watchfiles' notifier: how long one wait lasts with nothing pending
TICK_S = 0.5  # inotify: the longest sleep, after which ``stop`` and ``prune`` are looked at

Relevant = Callable[[str], bool]
Prune = Callable[[str], bool]


@dataclass(frozen=True)
class Batch:
    """Project-relative paths that changed together, and when the first of them was seen.

    ``final`` is False for an early look at a batch that is still open (see ``settle_ms``
    of :func:`watch`); the final batch that follows holds all its paths again.
    """

    paths: frozenset[str]
    first_seen: float  # time.monotonic()
    final: bool = True


class WatchLimitReached(DevdError):
    """The kernel refused another inotify watch (``fs.inotify.max_user_watches``)."""

    exit_code = 2


def watch(
    root: Path,
    stop: threading.Event,
    quiet_ms: int,
    relevant: Relevant = lambda path: True,
    prune: Prune | None = None,
    settle_ms: int | None = None,
) -> Iterator[Batch]:
    """Yield a :class:`Batch` for each burst of relevant changes under ``root`` until ``stop``.

    ``prune(directory)`` (a project-relative directory, never ``""``) returning True means
    no path under it can ever be relevant: it is not watched. It is asked again about each
    pruned directory after every batch and every :data:`TICK_S` (an edited ignore file can
    bring a directory back). With ``settle_ms``, a batch that has been quiet for that long,
    with every file of it written to closed again, is also yielded early, once, with
    ``final=False`` (an editor's save is over within a millisecond or two; a checkout can
    pause for longer, so only the final batch, quiet for ``quiet_ms``, is the whole burst).
    Only the Linux watcher prunes and settles.
    """
    root = root.resolve()
    if Inotify.available():
        yield from _watch_inotify(root, stop, quiet_ms, relevant, prune, settle_ms)
    else:
        yield from _watch_notify(root, stop, quiet_ms, relevant)


# --- Linux: inotify ----------------------------------------------------------------------------

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
_MAX_VERDICTS = 100_000
_WRITE_OPEN = IN_CREATE | IN_MODIFY
_WRITE_DONE = IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO
_NEW_DIR = IN_CREATE | IN_MOVED_TO
_GONE_DIR = IN_DELETE | IN_MOVED_FROM


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
    the pruned ones). :meth:`read` turns what the kernel queued into changed paths."""

    def __init__(self, root: Path, prune: Prune | None = None) -> None:
        libc = _load_libc()
        if libc is None:
            raise OSError(errno.ENOSYS, "inotify is not available")
        self._libc = libc
        self.root = root
        self._prune = prune
        fd = libc.init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            number = ctypes.get_errno()
            raise OSError(number, f"inotify_init1: {os.strerror(number)}")
        self.fd = fd
        self.dirs: dict[int, str] = {}  # watch descriptor -> directory ("" is the root)
        self._wds: dict[str, int] = {}
        self.pruned: set[str] = set()
        self.writing: set[str] = set()  # files modified and not closed since (in the batch)
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
        """Watch ``top`` and the directories under it (not pruned ones); the files found."""
        found: list[str] = []
        pending = [top]
        while pending:
            directory = pending.pop()
            if directory and self._pruned(directory):
                continue
            if not self._add(directory):
                continue
            try:
                entries = list(os.scandir(self._host(directory)))
            except (FileNotFoundError, NotADirectoryError, PermissionError):
                continue
            for entry in entries:
                path = _join(directory, entry.name)
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    is_dir = False
                if is_dir:
                    pending.append(path)
                else:
                    found.append(path)
        return found

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
            if number in (errno.ENOENT, errno.ENOTDIR, errno.EACCES, errno.ELOOP):
                return False  # gone already, not a directory (any more), or unreadable
            raise OSError(number, f"inotify_add_watch {self._host(directory)}: "
                                  f"{os.strerror(number)}")  # fmt: skip
        stale = self.dirs.get(wd)
        if stale is not None and stale != directory:
            self._wds.pop(stale, None)
        self.dirs[wd] = directory
        self._wds[directory] = wd
        return True

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

    def _host(self, directory: str) -> str:
        return os.path.join(self.root, directory) if directory else str(self.root)

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
                yield from self.add_tree("")  # events were lost: everything may have changed
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
            path = _join(directory, os.fsdecode(name))
            yield path
            if mask & IN_ISDIR:
                if mask & _GONE_DIR:
                    self.drop_tree(path)
                elif mask & _NEW_DIR:
                    yield from self.add_tree(path)
            elif mask & _WRITE_DONE:
                self.writing.discard(path)
            elif mask & _WRITE_OPEN:
                self.writing.add(path)


def _join(directory: str, name: str) -> str:
    return f"{directory}/{name}" if directory else name


def _limit_message(watches: int, directory: str) -> str:
    try:
        limit = Path("/proc/sys/fs/inotify/max_user_watches").read_text().strip()
    except OSError:
        limit = "?"
    return (
        f"cannot watch {directory}: the kernel's inotify watch limit is reached "
        f"(fs.inotify.max_user_watches = {limit}; devd holds {watches} watches); raise it "
        "(sysctl fs.inotify.max_user_watches=524288) or exclude big directories in "
        ".dockerignore"
    )


def _watch_inotify(
    root: Path,
    stop: threading.Event,
    quiet_ms: int,
    relevant: Relevant,
    prune: Prune | None,
    settle_ms: int | None,
) -> Iterator[Batch]:
    debouncer = Debouncer(quiet_ms / 1000)
    settle = None if settle_ms is None or settle_ms >= quiet_ms else settle_ms / 1000
    with Inotify(root, prune) as inotify:
        poller = select.poll()
        poller.register(inotify.fd, select.POLLIN)
        verdicts: dict[str, bool] = {}  # relevant() per path, for the open batch
        last_recheck = time.monotonic()
        early = False  # whether the open batch was yielded early already
        held = False  # settled, but a file of it is still being written: wait for news
        while not stop.is_set():
            now = time.monotonic()
            wait = debouncer.wait(now)
            if settle is not None and not (early or held) and wait is not None:
                wait = min(wait, debouncer.settle_wait(now, settle) or 0.0)
            timeout = TICK_S if wait is None else min(wait, TICK_S)
            ready = poller.poll(math.ceil(timeout * 1000))
            now = time.monotonic()
            if ready:
                debouncer.add(_relevant_only(inotify.read(), relevant, verdicts), now)
                held = False
                if debouncer.wait(now) is None or len(verdicts) > _MAX_VERDICTS:
                    verdicts.clear()  # no batch open: nothing to remember them for
                    inotify.writing.clear()
            closed = debouncer.due(now)
            if closed is not None:
                verdicts.clear()
                inotify.writing.clear()
                early = held = False
                yield Batch(closed.paths, closed.first_seen)
            elif settle is not None and not (early or held):
                settled = debouncer.settled(now, settle)
                if settled is not None and settled.paths & inotify.writing:
                    held = True  # its close (IN_CLOSE_WRITE) will wake the loop
                elif settled is not None:
                    early = True
                    yield Batch(settled.paths, settled.first_seen, final=False)
            if inotify.pruned and (closed is not None or now - last_recheck >= TICK_S):
                inotify.recheck_pruned()
                last_recheck = now


def _relevant_only(paths: Iterable[str], relevant: Relevant, seen: dict[str, bool]) -> list[str]:
    """The relevant ones of ``paths``, asking ``relevant`` once per path (a burst repeats
    paths: each write of a file is several events)."""
    kept = []
    for path in paths:
        verdict = seen.get(path)
        if verdict is None:
            verdict = seen[path] = relevant(path)
        if verdict:
            kept.append(path)
    return kept


# --- elsewhere: watchfiles' notifier -----------------------------------------------------------


def _watch_notify(
    root: Path, stop: threading.Event, quiet_ms: int, relevant: Relevant
) -> Iterator[Batch]:
    from watchfiles._rust_notify import RustNotify

    debouncer = Debouncer(quiet_ms / 1000)
    with RustNotify([str(root)], False, False, 300, True, True) as notifier:
        while not stop.is_set():
            wait = debouncer.wait(time.monotonic())
            timeout_ms = IDLE_TIMEOUT_MS if wait is None else max(1, round(wait * 1000))
            raw = notifier.watch(STEP_MS, STEP_MS, timeout_ms, stop)
            if raw == "stop":
                return
            now = time.monotonic()
            if isinstance(raw, set):
                paths = (relative(root, Path(path)) for _, path in raw)
                debouncer.add((path for path in paths if relevant(path)), now)
            closed = debouncer.due(now)
            if closed is not None:
                yield Batch(closed.paths, closed.first_seen)
