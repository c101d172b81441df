"""devd.watch on real trees: what a save, an editor's save, a burst, new and moved directories
and pruned directories turn into, and that an idle watcher sleeps.

Each test runs ``watch()`` in a thread over a temporary directory and reads the batches it
yields. The Linux watcher is inotify (``Inotify``); one test runs the fallback notifier.
"""

from __future__ import annotations

import ctypes
import errno
import os
import queue
import shutil
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devd import watch as watch_module
from devd.watch import (
    IN_Q_OVERFLOW,
    TICK_S,
    Batch,
    Inotify,
    WatchLimitReached,
    watch,
)

QUIET_MS = 50
NO_MORE_S = 0.4  # how long to wait for a batch that must not come

pytestmark = pytest.mark.skipif(not Inotify.available(), reason="inotify is Linux-only")


class Watching:
    """``watch()`` running in a thread; its batches arrive in ``batches``."""

    def __init__(
        self,
        root: Path,
        quiet_ms: int = QUIET_MS,
        relevant: Callable[[str], bool] = lambda path: True,
        prune: Callable[[str], bool] | None = None,
        settle_ms: int | None = None,
    ) -> None:
        self.root = root
        self.stop = threading.Event()
        self.batches: queue.Queue[tuple[float, Batch]] = queue.Queue()
        self.error: BaseException | None = None
        self.ready = threading.Event()
        self._args = (root, self.stop, quiet_ms, relevant, prune, settle_ms)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        # The watches are in place once the generator has started: give it a moment.
        time.sleep(0.2)

    def _run(self) -> None:
        try:
            for batch in watch(*self._args):
                self.batches.put((time.monotonic(), batch))
        except BaseException as error:  # reported by the test that reads it
            self.error = error

    def next(self, timeout: float = 5.0) -> tuple[float, Batch]:
        try:
            return self.batches.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no batch within {timeout} s (error: {self.error!r})") from None

    def paths(self, timeout: float = 5.0) -> frozenset[str]:
        return self.next(timeout)[1].paths

    def none_within(self, seconds: float = NO_MORE_S) -> None:
        try:
            _, batch = self.batches.get(timeout=seconds)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected batch {sorted(batch.paths)}")

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=TICK_S + 2)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "app").mkdir(parents=True)
    (root / "app" / "main.py").write_text("print(1)\n")
    return root


@pytest.fixture
def watching(tree: Path) -> Iterator[Watching]:
    watcher = Watching(tree)
    yield watcher
    watcher.close()


def write(path: Path, text: str = "x\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)


def kernel_watches(fd: int) -> int:
    """The watches the kernel holds for inotify instance ``fd`` of this process."""
    info = Path(f"/proc/self/fdinfo/{fd}").read_text()
    return sum(1 for line in info.splitlines() if line.startswith("inotify wd:"))


def test_a_save_is_one_batch_handed_over_once_the_tree_is_quiet(
    watching: Watching, tree: Path
) -> None:
    """The batch names the path, knows when its first change was seen, and is handed over
    ``quiet_ms`` after the last change: not before, and without a polling delay after."""
    saved = time.monotonic()
    write(tree / "app" / "main.py", "print(2)\n")
    yielded, batch = watching.next()
    assert batch.paths == {"app/main.py"}
    assert saved <= batch.first_seen < saved + 0.05
    assert QUIET_MS / 1000 <= yielded - batch.first_seen < QUIET_MS / 1000 + 0.15
    watching.none_within()


@pytest.mark.parametrize("editor", ["in-place", "rename-over", "vim-backup", "jetbrains"])
def test_an_editor_save_is_one_batch(watching: Watching, tree: Path, editor: str) -> None:
    """However an editor writes a file, its save is one batch."""
    target = tree / "app" / "main.py"
    if editor == "in-place":
        write(target, "")
        write(target, "print(3)\n")
    elif editor == "rename-over":
        write(tree / "app" / ".main.py.tmp123", "print(3)\n")
        os.replace(tree / "app" / ".main.py.tmp123", target)
    elif editor == "vim-backup":
        write(tree / "app" / "4913", "")
        (tree / "app" / "4913").unlink()
        os.rename(target, tree / "app" / "main.py~")
        write(target, "print(3)\n")
        (tree / "app" / "main.py~").unlink()
    else:
        write(tree / "app" / "main.py___jb_tmp___", "print(3)\n")
        os.rename(target, tree / "app" / "main.py___jb_old___")
        os.rename(tree / "app" / "main.py___jb_tmp___", target)
        (tree / "app" / "main.py___jb_old___").unlink()
    assert "app/main.py" in watching.paths()
    watching.none_within()


def test_a_burst_of_1000_writes_is_one_batch(watching: Watching, tree: Path) -> None:
    """A checkout-like burst (1,000 writes to 100 files) is handed over as one batch."""
    for number in range(1000):
        write(tree / "app" / f"page{number % 100}.html", f"{number}\n")
    assert watching.paths() == {f"app/page{n}.html" for n in range(100)}
    watching.none_within()


def test_relevant_is_asked_once_per_path_of_a_batch(tree: Path) -> None:
    """A burst repeats paths (each write is several events): ``relevant`` hears each once."""
    asked: list[str] = []

    def relevant(path: str) -> bool:
        asked.append(path)
        return True

    watcher = Watching(tree, relevant=relevant)
    try:
        for number in range(300):
            write(tree / "app" / f"page{number % 10}.html", f"{number}\n")
        assert len(watcher.paths()) == 10
        assert sorted(asked) == sorted(set(asked))
    finally:
        watcher.close()


def test_files_made_in_a_new_directory_before_it_was_watched_are_reported(
    watching: Watching, tree: Path
) -> None:
    """``mkdir -p`` and a write at once: the write is reported, and the new directories
    are watched from then on."""
    write(tree / "app" / "a" / "b" / "c" / "new.py")
    assert "app/a/b/c/new.py" in watching.paths()
    write(tree / "app" / "a" / "b" / "c" / "later.py")
    assert watching.paths() == {"app/a/b/c/later.py"}


def test_a_directory_moved_in_is_reported_with_everything_in_it(
    watching: Watching, tree: Path
) -> None:
    outside = tree.parent / "outside"
    write(outside / "pkg" / "mod.py")
    write(outside / "pkg" / "sub" / "deep.py")
    os.rename(outside, tree / "app" / "moved")
    assert {"app/moved/pkg/mod.py", "app/moved/pkg/sub/deep.py"} <= watching.paths()
    write(tree / "app" / "moved" / "pkg" / "sub" / "deep.py", "again\n")
    assert watching.paths() == {"app/moved/pkg/sub/deep.py"}


def test_a_directory_renamed_inside_is_watched_under_its_new_name(tree: Path) -> None:
    write(tree / "app" / "old" / "sub" / "f.py")
    watcher = Watching(tree)
    try:
        os.rename(tree / "app" / "old", tree / "app" / "new")
        assert {"app/old", "app/new"} <= watcher.paths()
        write(tree / "app" / "new" / "sub" / "f.py", "changed\n")
        assert watcher.paths() == {"app/new/sub/f.py"}
    finally:
        watcher.close()


def test_a_directory_moved_out_is_reported_and_no_longer_watched(tree: Path) -> None:
    write(tree / "app" / "gone" / "f.py")
    watcher = Watching(tree)
    try:
        os.rename(tree / "app" / "gone", tree.parent / "elsewhere")
        assert watcher.paths() == {"app/gone"}
        write(tree.parent / "elsewhere" / "f.py", "changed\n")
        watcher.none_within()
    finally:
        watcher.close()


def test_a_deleted_directory_is_reported_and_its_watches_released(tree: Path) -> None:
    write(tree / "app" / "tmp" / "a" / "b.py")
    with Inotify(tree) as inotify:
        before = kernel_watches(inotify.fd)
        shutil.rmtree(tree / "app" / "tmp")
        time.sleep(0.05)
        changed = inotify.read()
        assert {"app/tmp", "app/tmp/a", "app/tmp/a/b.py"} <= set(changed)
        assert kernel_watches(inotify.fd) == before - 2
        assert set(inotify.dirs.values()) == {"", "app"}


def test_irrelevant_paths_neither_open_nor_prolong_a_batch(tree: Path) -> None:
    watcher = Watching(tree, relevant=lambda path: not path.endswith(".log"))
    try:
        write(tree / "app" / "debug.log")
        watcher.none_within()
        write(tree / "app" / "main.py", "print(4)\n")
        saved = time.monotonic()
        for number in range(15):  # log noise for 300 ms, six times the quiet period
            write(tree / "app" / "debug.log", f"{number}\n")
            time.sleep(0.02)
        yielded, batch = watcher.next()
        assert batch.paths == {"app/main.py"}
        assert yielded - saved < 0.2
    finally:
        watcher.close()


def _node_modules_tree(root: Path) -> None:
    for package in range(30):
        write(root / "node_modules" / f"pkg{package}" / "lib" / "index.js")
    write(root / "app" / "sub" / "mod.py")


def test_pruned_directories_get_no_watch(tree: Path) -> None:
    """A directory ``prune`` names is neither listed nor watched, nor anything under it."""
    _node_modules_tree(tree)
    asked: list[str] = []

    def prune(directory: str) -> bool:
        asked.append(directory)
        return directory == "node_modules"

    with Inotify(tree, prune) as inotify:
        assert set(inotify.dirs.values()) == {"", "app", "app/sub"}
        assert kernel_watches(inotify.fd) == 3
        assert inotify.pruned == {"node_modules"}
        assert not [d for d in asked if d.startswith("node_modules/")]
    with Inotify(tree) as unpruned:
        assert kernel_watches(unpruned.fd) == 3 + 1 + 30 * 2


def test_changes_under_a_pruned_directory_are_not_seen(tree: Path) -> None:
    _node_modules_tree(tree)
    watcher = Watching(tree, prune=lambda directory: directory == "node_modules")
    try:
        write(tree / "node_modules" / "pkg1" / "lib" / "index.js", "changed\n")
        watcher.none_within()
        write(tree / "app" / "sub" / "mod.py", "changed\n")
        assert watcher.paths() == {"app/sub/mod.py"}
    finally:
        watcher.close()


def test_a_directory_prune_lets_go_of_is_watched_again(tree: Path) -> None:
    """An edited ignore file can bring a pruned directory back: ``prune`` is asked again
    after a batch, and from then on its changes are seen."""
    _node_modules_tree(tree)
    pruning = {"node_modules": True}
    watcher = Watching(tree, prune=lambda directory: pruning.get(directory, False))
    try:
        pruning["node_modules"] = False
        write(tree / ".dockerignore", "")
        assert watcher.paths() == {".dockerignore"}
        time.sleep(0.1)
        write(tree / "node_modules" / "pkg1" / "lib" / "index.js", "changed\n")
        assert watcher.paths() == {"node_modules/pkg1/lib/index.js"}
    finally:
        watcher.close()


def test_stop_ends_the_watch(watching: Watching) -> None:
    watching.stop.set()
    watching.thread.join(timeout=TICK_S + 1)
    assert not watching.thread.is_alive()


def test_an_idle_watcher_sleeps(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing polls: with nothing changing, the watcher wakes about once per TICK_S."""
    wakeups: list[float] = []
    real_poll = watch_module.select.poll

    class CountingPoll:
        def __init__(self) -> None:
            self._poll = real_poll()

        def register(self, fd: int, mask: int) -> None:
            self._poll.register(fd, mask)

        def poll(self, timeout: int) -> list[tuple[int, int]]:
            wakeups.append(time.monotonic())
            return self._poll.poll(timeout)

    monkeypatch.setattr(watch_module.select, "poll", CountingPoll)
    watcher = Watching(tree)
    try:
        time.sleep(5 * TICK_S)
        assert 2 <= len(wakeups) <= 7
    finally:
        watcher.close()


def test_a_queue_overflow_reports_every_file(tree: Path) -> None:
    """When the kernel dropped events, every file is reported: a big batch, nothing lost."""
    write(tree / "app" / "sub" / "mod.py")
    with Inotify(tree) as inotify:
        overflow = struct.pack("iIII", -1, IN_Q_OVERFLOW, 0, 0)
        assert set(inotify._parse(overflow)) == {"app/main.py", "app/sub/mod.py"}


def test_the_watch_limit_is_a_clear_error(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    libc = watch_module._load_libc()
    assert libc is not None

    def refuse(fd: int, path: bytes, mask: int) -> int:
        ctypes.set_errno(errno.ENOSPC)
        return -1

    monkeypatch.setattr(libc, "add_watch", refuse)
    with pytest.raises(WatchLimitReached, match=r"max_user_watches"):
        Inotify(tree)


def test_symlinked_directories_are_not_followed(tree: Path, tmp_path: Path) -> None:
    write(tmp_path / "elsewhere" / "f.py")
    (tree / "app" / "link").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with Inotify(tree) as inotify:
        assert set(inotify.dirs.values()) == {"", "app"}


def test_the_fallback_notifier_batches_too(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where inotify is missing, watchfiles' notifier does the watching."""
    monkeypatch.setattr(Inotify, "available", staticmethod(lambda: False))
    watcher = Watching(tree)
    try:
        time.sleep(0.3)
        write(tree / "app" / "main.py", "print(5)\n")
        assert watcher.paths() == {"app/main.py"}
    finally:
        watcher.close()


def test_with_settle_a_save_is_yielded_early_then_whole(tree: Path) -> None:
    """``settle_ms``: a save quiet for that long comes early (``final=False``); the final
    batch, quiet for ``quiet_ms``, follows with every path of the burst."""
    watcher = Watching(tree, settle_ms=3)
    try:
        saved = time.monotonic()
        write(tree / "app" / "main.py", "print(6)\n")
        yielded, early = watcher.next()
        assert (early.paths, early.final) == ({"app/main.py"}, False)
        assert yielded - saved < QUIET_MS / 1000
        write(tree / "app" / "other.py")
        final_at, final = watcher.next()
        assert (final.paths, final.final) == ({"app/main.py", "app/other.py"}, True)
        assert final.first_seen == early.first_seen
        assert final_at - saved >= QUIET_MS / 1000
        watcher.none_within()
    finally:
        watcher.close()


def test_with_settle_a_file_still_being_written_is_not_yielded_early(tree: Path) -> None:
    """A file modified and not closed again holds the early batch back until it is."""
    watcher = Watching(tree, quiet_ms=400, settle_ms=3)
    try:
        with open(tree / "app" / "main.py", "w") as handle:
            handle.write("half")
            handle.flush()
            time.sleep(0.1)
            assert watcher.batches.empty()
            handle.write(" and the rest\n")
        closed = time.monotonic()
        yielded, early = watcher.next()
        assert (early.paths, early.final) == ({"app/main.py"}, False)
        assert yielded >= closed
        assert watcher.next()[1].final
    finally:
        watcher.close()


def test_a_missing_root_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        Inotify(tmp_path / "nowhere")
