"""The build context over the session: which files a DiffCopy call lists, and the sender's
half of fsutil's protocol (moby.filesync.v1.FileSync/DiffCopy).

The engine calls DiffCopy once per local source it needs, naming it in the call's metadata
(``dir-name``: ``context``, ``dockerfile``) and narrowing it (``include-patterns``,
``exclude-patterns``, ``followpaths``; a value is percent-encoded when ``<key>-encoded`` is
set). On the stream, as fsutil's ``send.go`` and ``receive.go`` describe:

1. devd lists the tree, one STAT packet per entry, each directory before what it holds and
   the names of a directory in byte order (the receiver refuses any other order); an empty
   STAT ends the list. An entry's id is its index in that list;
2. the engine compares each entry with its copy from the last build under the same shared key
   and sends a REQ for the id of each regular file that differs (mode, owner, size,
   nanosecond mtime, link target);
3. devd answers a REQ with the file's bytes in DATA packets, then an empty DATA;
4. the engine sends FIN when it has all it asked for; devd answers FIN and the call ends.

So a rebuild after one save moves the listing and the saved file, not the context.

What is listed: the files devd's ignore rules keep (the tar context's rules; the Dockerfile
goes by its own ``dockerfile`` source and is not forced into the context), narrowed by the
patterns of the call; a hard link already listed goes as a link to the first path (size 0),
as fsutil sends it; sockets are left out, as in the tar. Extended attributes are not sent.
"""

from __future__ import annotations

import os
import stat
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from docker.utils.build import Pattern, split_path

from devd.core.ignore import DOCKERIGNORE, IgnoreRules
from devd.engine.context import unreadable
from devd.engine.session.messages import Packet, PacketType, Stat, go_file_mode, has_data

CHUNK = 64 * 1024
"""Bytes of file data per DATA packet."""


class SyncError(Exception):
    """The file sync cannot go on (a file gone, the engine reporting an error)."""


@dataclass(frozen=True)
class SyncedDir:
    """A directory the engine may ask for by name: ``root`` with devd's ignore ``rules``;
    ``only`` (relative paths), when set, is all it may list (the Dockerfile's directory)."""

    root: Path
    rules: IgnoreRules = field(default_factory=lambda: IgnoreRules(()))
    only: frozenset[str] | None = None


@dataclass(frozen=True)
class SyncRequest:
    """What one DiffCopy call asks for, from its metadata."""

    dir_name: str
    includes: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    follow_paths: tuple[str, ...] = ()

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Sequence[str]]) -> SyncRequest:
        def values(key: str) -> tuple[str, ...]:
            found = tuple(meta.get(key, ()))
            encoded = meta.get(f"{key}-encoded", ["0"])[:1] == ["1"]
            return tuple(urllib.parse.unquote_plus(v) for v in found) if encoded else found

        names = values("dir-name")
        return cls(
            dir_name=names[0] if names else "",
            includes=values("include-patterns"),
            excludes=values("exclude-patterns"),
            follow_paths=values("followpaths"),
        )


@dataclass(frozen=True)
class Entry:
    """One listed entry: what the engine is told, and where its bytes are."""

    stat: Stat
    source: str


def listing(synced: SyncedDir, request: SyncRequest) -> list[Entry]:
    """The entries of ``synced`` that ``request`` asks for, in the order fsutil requires;
    raises SyncError naming a file or directory that cannot be read, as the tar context
    does (:func:`devd.engine.context.unreadable`)."""
    wanted = _Wanted(synced, request)
    inodes: dict[tuple[int, int], str] = {}
    try:
        return _walk(synced.root, "", wanted, inodes)
    except OSError as error:
        raise SyncError(str(unreadable(synced.root, error))) from error


class _Wanted:
    """Whether a path is listed: devd's rules keep it, the call's patterns let it through."""

    def __init__(self, synced: SyncedDir, request: SyncRequest) -> None:
        self._rules = synced.rules
        self._only = synced.only
        narrowing = [*request.includes, *request.follow_paths]
        self._includes = _Patterns(narrowing) if narrowing else None
        self._excludes = _Patterns(request.excludes) if request.excludes else None

    def tree_skipped(self, directory: str) -> bool:
        if self._only is not None:
            return not any(path.startswith(f"{directory}/") for path in self._only)
        return self._rules.excludes_tree(directory) or bool(
            self._excludes and self._excludes.matches(directory) and not self._reincludes()
        )

    def _reincludes(self) -> bool:
        return self._excludes is not None and self._excludes.reincludes

    def listed(self, path: str) -> bool:
        if self._only is not None and path not in self._only:
            return False
        if path == DOCKERIGNORE:
            excluded = self._rules.excludes_own_file()
        else:
            excluded = self._rules.excludes(path)
        if excluded or (self._excludes is not None and self._excludes.matches(path)):
            return False
        return self._includes is None or bool(self._includes.matches(path))


class _Patterns:
    """A call's patterns, matched as the engine matches them: a path matches when it or a
    parent directory does, the last matching pattern deciding (``!`` re-includes). Unlike
    docker-py's PatternMatcher, nothing is added (it keeps ``.dockerignore`` always)."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self._patterns = [pattern for pattern in map(Pattern, patterns) if pattern.dirs]
        self.reincludes = any(pattern.exclusion for pattern in self._patterns)

    def matches(self, path: str) -> bool:
        parents = split_path(os.path.dirname(path))
        matched = False
        for pattern in self._patterns:
            match = pattern.match(path)
            if not match and parents and len(pattern.dirs) <= len(parents):
                match = pattern.match(os.path.sep.join(parents[: len(pattern.dirs)]))
            if match:
                matched = not pattern.exclusion
        return matched


def _walk(
    directory: Path, prefix: str, wanted: _Wanted, inodes: dict[tuple[int, int], str]
) -> list[Entry]:
    with os.scandir(directory) as scan:
        children = sorted(scan, key=lambda entry: os.fsencode(entry.name))
    entries: list[Entry] = []
    for child in children:
        path = f"{prefix}{child.name}"
        try:
            status = child.stat(follow_symlinks=False)
        except FileNotFoundError:  # deleted while listed: as if never there
            continue
        if stat.S_ISDIR(status.st_mode):
            if wanted.tree_skipped(path):
                continue
            below = _walk(Path(child.path), f"{path}/", wanted, inodes)
            if below or wanted.listed(path):
                entries.append(Entry(_stat(path, status, ""), child.path))
                entries.extend(below)
        elif not stat.S_ISSOCK(status.st_mode) and wanted.listed(path):
            entries.append(Entry(_file_stat(child.path, path, status, inodes), child.path))
    return entries


def _file_stat(
    source: str, path: str, status: os.stat_result, inodes: dict[tuple[int, int], str]
) -> Stat:
    if stat.S_ISLNK(status.st_mode):
        return _stat(path, status, os.readlink(source), size=status.st_size)
    if status.st_nlink > 1:
        first = inodes.setdefault((status.st_dev, status.st_ino), path)
        if first != path:
            return _stat(path, status, first, size=0)
    devmajor = devminor = 0
    if stat.S_ISBLK(status.st_mode) or stat.S_ISCHR(status.st_mode):
        devmajor, devminor = os.major(status.st_rdev), os.minor(status.st_rdev)
    return Stat(
        path=path,
        mode=go_file_mode(status.st_mode),
        uid=status.st_uid,
        gid=status.st_gid,
        size=status.st_size,
        mod_time=status.st_mtime_ns,
        devmajor=devmajor,
        devminor=devminor,
    )


def _stat(path: str, status: os.stat_result, linkname: str, *, size: int = 0) -> Stat:
    return Stat(
        path=path,
        mode=go_file_mode(status.st_mode),
        uid=status.st_uid,
        gid=status.st_gid,
        size=size,
        mod_time=status.st_mtime_ns,
        linkname=linkname,
    )


Reader = Callable[[str], Iterator[bytes]]
"""The contents of the file at a path, in pieces."""


def read_chunks(source: str) -> Iterator[bytes]:
    """``source``'s bytes in CHUNK-sized pieces; raises SyncError if it cannot be read."""
    try:
        with open(source, "rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk
    except OSError as error:
        raise SyncError(f"cannot read {source}: {error.strerror or error}") from error


class DiffCopySender:
    """The sender's side of one DiffCopy stream, without the stream: it makes the packets,
    the caller moves them. Counts what it sends."""

    def __init__(self, entries: Sequence[Entry], read: Reader = read_chunks) -> None:
        self._entries = entries
        self._read = read
        self._files = {
            index: entry for index, entry in enumerate(entries) if has_data(entry.stat.mode)
        }
        self.sent_paths: list[str] = []
        """The files whose bytes the engine asked for, in the order it asked."""
        self.data_bytes = 0
        """File bytes sent (the DATA packets' payloads)."""

    def listing(self) -> Iterator[bytes]:
        """The STAT packets, then the empty STAT that ends the list."""
        for entry in self._entries:
            yield Packet(PacketType.STAT, entry.stat).encode()
        yield Packet(PacketType.STAT).encode()

    def answer(self, message: bytes) -> tuple[Iterator[bytes], bool]:
        """The packets that answer the engine's ``message``, and whether the stream is done
        (it sent FIN). Raises SyncError for an ERR packet or an unknown id."""
        packet = Packet.decode(message)
        if packet.type == PacketType.REQ:
            return self._data(packet.id), False
        if packet.type == PacketType.FIN:
            return iter((Packet(PacketType.FIN).encode(),)), True
        if packet.type == PacketType.ERR:
            reason = packet.data.decode("utf-8", "replace")
            raise SyncError(f"the engine could not take the context: {reason}")
        return iter(()), False

    def _data(self, ident: int) -> Iterator[bytes]:
        entry = self._files.pop(ident, None)
        if entry is None:
            raise SyncError(f"the engine asked for file id {ident}, which was not listed")
        self.sent_paths.append(entry.stat.path)
        return self._chunks(ident, entry)

    def _chunks(self, ident: int, entry: Entry) -> Iterator[bytes]:
        for chunk in self._read(entry.source):
            self.data_bytes += len(chunk)
            yield Packet(PacketType.DATA, id=ident, data=chunk).encode()
        yield Packet(PacketType.DATA, id=ident).encode()
