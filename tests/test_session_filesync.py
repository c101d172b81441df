"""devd.engine.session.filesync: what a DiffCopy call lists, and the sender's packets."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from devd.core.ignore import IgnoreRules
from devd.engine.session.filesync import (
    CHUNK,
    DiffCopySender,
    Entry,
    SyncedDir,
    SyncError,
    SyncRequest,
    listing,
)
from devd.engine.session.messages import MODE_DIR, MODE_SYMLINK, Packet, PacketType


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _paths(entries: list[Entry]) -> list[str]:
    return [entry.stat.path for entry in entries]


def test_listing_order_is_fsutils(tmp_path: Path) -> None:
    """Each directory comes before what it holds, names in byte order within a directory
    (``a-b`` sorts before ``a/`` entries as the name ``a-b`` > ``a``: fsutil walks by name,
    not by full path)."""
    _tree(tmp_path, {"b": "", "a/z": "", "a/b/c": "", "a-b": "", "B": "", "a.txt": ""})
    entries = listing(SyncedDir(tmp_path), SyncRequest("context"))
    assert _paths(entries) == ["B", "a", "a/b", "a/b/c", "a/z", "a-b", "a.txt", "b"]
    assert entries[1].stat.mode & MODE_DIR
    assert entries[0].stat.size == 0
    assert entries[0].stat.mod_time == os.lstat(tmp_path / "B").st_mtime_ns


def test_devds_ignore_rules_decide(tmp_path: Path) -> None:
    """Excluded files and trees are not listed; a ``!`` re-include brings its parents;
    ``.dockerignore`` goes unless its own patterns exclude it; the Dockerfile is not forced
    in (it has its own source)."""
    _tree(
        tmp_path,
        {
            "app/main.py": "",
            "node_modules/x/y.js": "",
            "logs/keep.log": "",
            "logs/drop.log": "",
            "Dockerfile": "",
            ".dockerignore": "",
        },
    )
    rules = IgnoreRules(["node_modules", "logs", "!logs/keep.log", "Dockerfile"])
    entries = listing(SyncedDir(tmp_path, rules), SyncRequest("context"))
    assert _paths(entries) == [".dockerignore", "app", "app/main.py", "logs", "logs/keep.log"]
    own = IgnoreRules([".dockerignore"])
    assert ".dockerignore" not in _paths(listing(SyncedDir(tmp_path, own), SyncRequest("c")))


def test_the_calls_patterns_narrow_the_listing(tmp_path: Path) -> None:
    """followpaths/include-patterns keep only what they match (and its parents);
    exclude-patterns take out what they match, without docker-py's implicit
    ``!.dockerignore``."""
    _tree(tmp_path, {".dockerignore": "", "app/a.py": "", "app/b.txt": "", "c": ""})
    synced = SyncedDir(tmp_path)
    assert _paths(listing(synced, SyncRequest("c", follow_paths=(".dockerignore",)))) == [
        ".dockerignore"
    ]
    assert _paths(listing(synced, SyncRequest("c", includes=("app/*.py",)))) == [
        "app",
        "app/a.py",
    ]
    excluded = listing(synced, SyncRequest("c", excludes=("app", ".dockerignore")))
    assert _paths(excluded) == ["c"]


def test_only_restricts_a_directory_to_named_files(tmp_path: Path) -> None:
    """The Dockerfile's directory lists the Dockerfile alone, whatever the call asks."""
    _tree(tmp_path, {"Dockerfile": "FROM x", "secret.env": "x", "sub/Dockerfile": ""})
    synced = SyncedDir(tmp_path, only=frozenset({"Dockerfile"}))
    assert _paths(listing(synced, SyncRequest("dockerfile"))) == ["Dockerfile"]


def test_links(tmp_path: Path) -> None:
    """A symlink goes as a link with its target (never followed); a second hard link to a
    file goes as a link to the first path with size 0; a socket is left out."""
    _tree(tmp_path, {"a": "data"})
    (tmp_path / "l").symlink_to("/etc/passwd")
    os.link(tmp_path / "a", tmp_path / "b")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "s"))
        entries = {e.stat.path: e.stat for e in listing(SyncedDir(tmp_path), SyncRequest("c"))}
    assert sorted(entries) == ["a", "b", "l"]
    assert entries["l"].mode & MODE_SYMLINK
    assert entries["l"].linkname == "/etc/passwd"
    assert (entries["b"].linkname, entries["b"].size) == ("a", 0)
    assert (entries["a"].linkname, entries["a"].size) == ("", 4)


def test_a_directory_that_cannot_be_listed_names_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A directory that cannot be listed (gone, not a directory; unreadable for non-root)
    fails the sync with its path."""
    with pytest.raises(SyncError, match=r"cannot read .*gone.* \(no such file or directory\)"):
        listing(SyncedDir(tmp_path / "gone"), SyncRequest("c"))
    deep = tmp_path / "www"
    deep.mkdir()
    name = "d" * 250
    monkeypatch.chdir(deep)  # the test's working directory comes back afterwards
    for _ in range(20):  # deeper than PATH_MAX (4096) from the root: ENAMETOOLONG
        os.mkdir(name)
        os.chdir(name)
    with pytest.raises(SyncError) as caught:
        listing(SyncedDir(tmp_path), SyncRequest("c"))
    message = str(caught.value)
    assert message.startswith(f"cannot read www/{name}/"), message
    assert "(file name too long); fix its permissions or add it to .dockerignore" in message


def _decode(packets: Iterator[bytes]) -> list[Packet]:
    return [Packet.decode(packet) for packet in packets]


def test_the_sender_lists_answers_and_finishes(tmp_path: Path) -> None:
    """STATs (ids by position) then an empty STAT; a REQ gets the file in DATA chunks and an
    empty DATA; FIN is answered with FIN and ends the stream; what was sent is counted."""
    _tree(tmp_path, {"big": "x" * (CHUNK + 10), "d/small": "hi"})
    sender = DiffCopySender(listing(SyncedDir(tmp_path), SyncRequest("c")))
    listed = _decode(sender.listing())
    assert [p.stat.path if p.stat else None for p in listed] == ["big", "d", "d/small", None]
    packets, done = sender.answer(Packet(PacketType.REQ, id=2).encode())
    assert [(p.type, p.id, p.data) for p in _decode(packets)] == [
        (PacketType.DATA, 2, b"hi"),
        (PacketType.DATA, 2, b""),
    ]
    assert not done
    packets, _ = sender.answer(Packet(PacketType.REQ, id=0).encode())
    assert [len(p.data) for p in _decode(packets)] == [CHUNK, 10, 0]
    packets, done = sender.answer(Packet(PacketType.FIN).encode())
    assert (_decode(packets), done) == ([Packet(PacketType.FIN)], True)
    assert (sender.sent_paths, sender.data_bytes) == (["d/small", "big"], CHUNK + 12)


def test_the_sender_refuses_what_it_did_not_list(tmp_path: Path) -> None:
    """A REQ for a directory's id, an unknown id or the same file twice is an error; an ERR
    packet from the engine is raised with its text."""
    _tree(tmp_path, {"d/f": "x"})
    sender = DiffCopySender(listing(SyncedDir(tmp_path), SyncRequest("c")))
    list(sender.listing())
    for ident in (0, 7):
        with pytest.raises(SyncError, match=f"file id {ident}"):
            sender.answer(Packet(PacketType.REQ, id=ident).encode())
    list(sender.answer(Packet(PacketType.REQ, id=1).encode())[0])
    with pytest.raises(SyncError, match="file id 1"):
        sender.answer(Packet(PacketType.REQ, id=1).encode())
    with pytest.raises(SyncError, match="no space left"):
        sender.answer(Packet(PacketType.ERR, data=b"no space left").encode())


def test_a_file_gone_before_its_request_fails_the_sync(tmp_path: Path) -> None:
    """A listed file deleted before the engine asks for it is an error naming it (fsutil
    would send it empty: an image the context never held)."""
    _tree(tmp_path, {"f": "x"})
    sender = DiffCopySender(listing(SyncedDir(tmp_path), SyncRequest("c")))
    (tmp_path / "f").unlink()
    packets, _ = sender.answer(Packet(PacketType.REQ, id=0).encode())
    with pytest.raises(SyncError, match=r"cannot read .*f"):
        list(packets)


def test_request_from_metadata_decodes_encoded_values() -> None:
    """Values with non-ASCII characters come percent-encoded, flagged by ``<key>-encoded``."""
    request = SyncRequest.from_metadata(
        {
            "dir-name": ["context"],
            "exclude-patterns": ["caf%C3%A9", "a+b"],
            "exclude-patterns-encoded": ["1"],
            "followpaths": ["Dockerfile"],
        }
    )
    assert request == SyncRequest("context", excludes=("café", "a b"), follow_paths=("Dockerfile",))
