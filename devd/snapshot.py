"""What a tree holds, one stamp per path, to tell what changed between two looks at it.

Events say what changed; where there are none to read, devd compares: after the kernel's
inotify queue overflowed (events were lost), and in the polling watcher that takes over when
no more inotify watches can be had. A stamp changes whenever a file's content, mode or
identity does (inode, size, modification and change times); a directory's stamp is only its
type, so a directory is reported when it appears or goes, not each time a file in it does.

Walking never follows a symlink: a link is stamped as a link, and a linked directory (inside
or outside the tree, or a loop) is not entered.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

Stamp = tuple[int, ...]
Snapshot = dict[str, Stamp]
Enter = Callable[[str], bool]  # whether to list a directory ("" is the root)
OnError = Callable[[str, OSError], None]  # a directory or file that could not be read
DIRECTORY: Stamp = (stat.S_IFDIR,)


def stamp(status: os.stat_result) -> Stamp:
    if stat.S_ISDIR(status.st_mode):
        return DIRECTORY
    return (
        status.st_mode, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns,
    )  # fmt: skip


def stamp_of(root: Path, path: str) -> Stamp | None:
    """The stamp of ``path`` (relative to ``root``) now; None when it does not exist."""
    try:
        return stamp(os.lstat(host_path(root, path)))
    except OSError:
        return None


def changed(old: Snapshot, new: Snapshot) -> set[str]:
    """The paths that appeared, went, or changed between ``old`` and ``new``."""
    return {path for path in old.keys() | new.keys() if old.get(path) != new.get(path)}


def walk(root: Path, top: str, enter: Enter, on_error: OnError) -> Iterator[tuple[str, Stamp]]:
    """Every path under ``top`` (relative to ``root``; ``""`` is the root) with its stamp,
    listing only the directories ``enter`` accepts. A directory or entry that cannot be
    read is handed to ``on_error`` and skipped; one that vanished meanwhile is skipped."""
    pending = [top]
    while pending:
        directory = pending.pop()
        if not enter(directory):
            continue
        try:
            with os.scandir(host_path(root, directory)) as listing:
                entries = list(listing)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as error:
            on_error(directory, error)
            continue
        for entry in entries:
            path = join(directory, entry.name)
            try:
                status = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            except OSError as error:
                on_error(path, error)
                continue
            if stat.S_ISDIR(status.st_mode):
                pending.append(path)
            yield path, stamp(status)


def scan(root: Path, enter: Enter, on_error: OnError) -> Snapshot:
    """The whole tree's stamps (the directories ``enter`` refuses left out)."""
    return dict(walk(root, "", enter, on_error))


def join(directory: str, name: str) -> str:
    return f"{directory}/{name}" if directory else name


def host_path(root: Path, path: str) -> str:
    return os.path.join(root, path) if path else str(root)
