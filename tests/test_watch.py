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
import subprocess
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from devd import inotify as inotify_module
from devd import watch as watch_module
from devd.core.ignore import IgnoreRules
from devd.inotify import Inotify, WatchLimitReached
from devd.watch import TICK_S, Batch, watch

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

    def drain(self, seconds: float = NO_MORE_S) -> list[frozenset[str]]:
        """The paths of each further batch, until none comes for ``seconds``."""
        more = []
        while True:
            try:
                more.append(self.batches.get(timeout=seconds)[1].paths)
            except queue.Empty:
                return more

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
    """A checkout-like burst (1,000 writes to 100 files) is handed over as one batch, unless
    the writer itself paused for a quiet period (a loaded machine, as in CI once): each such
    pause may close a batch, nothing else may."""
    pauses, last = 0, time.monotonic()
    for number in range(1000):
        write(tree / "app" / f"page{number % 100}.html", f"{number}\n")
        now = time.monotonic()
        pauses += now - last >= QUIET_MS / 1000 * 0.8  # a little early: timers are coarse
        last = now
    batches = [watching.paths(), *watching.drain()]
    assert set().union(*batches) == {f"app/page{n}.html" for n in range(100)}
    assert len(batches) <= 1 + pauses, f"{len(batches)} batches, writer paused {pauses} times"


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
        batches = [watcher.paths()]
        # A loaded machine may pause the writer past the quiet period and so split the burst
        # (CI once did): then each batch asks afresh, and once per path it holds.
        batches.extend(watcher.drain())
        assert set().union(*batches) == {f"app/page{n}.html" for n in range(10)}
        assert sorted(asked) == sorted(path for batch in batches for path in batch)
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
        assert yielded - saved < 0.3  # prolonged by the noise, it would come after 0.35 s
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


def test_the_watch_limit_is_a_clear_error(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    libc = inotify_module._load_libc()
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
    batch, quiet for ``quiet_ms``, follows with every path of the burst. (A long quiet
    period, so that a loaded machine cannot close the batch before the early look.)"""
    watcher = Watching(tree, quiet_ms=400, settle_ms=3)
    try:
        saved = time.monotonic()
        write(tree / "app" / "main.py", "print(6)\n")
        yielded, early = watcher.next()
        assert (early.paths, early.final) == ({"app/main.py"}, False)
        assert yielded - saved < 0.4
        write(tree / "app" / "other.py")
        final_at, final = watcher.next()
        assert (final.paths, final.final) == ({"app/main.py", "app/other.py"}, True)
        assert final.first_seen == early.first_seen
        assert final_at - saved >= 0.4
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
            handle.write(" and the rest\n")  # buffered: written at the close
            closing = time.monotonic()
        yielded, early = watcher.next()
        assert (early.paths, early.final) == ({"app/main.py"}, False)
        assert yielded >= closing  # the close is a finished save: it may come at once
        assert watcher.next()[1].final
    finally:
        watcher.close()


def test_with_settle_a_closed_save_comes_at_once_a_deletion_waits_for_the_settle(
    tree: Path,
) -> None:
    """A batch of files closed after writing is a finished save: it comes early without the
    settle. A deleted file may be an editor's safe write about to put it back: its batch
    waits for the settle. (Settle and quiet period are long here so the order is plain.)"""
    watcher = Watching(tree, quiet_ms=1500, settle_ms=700)
    try:
        saved = time.monotonic()
        write(tree / "app" / "main.py", "print(7)\n")
        yielded, early = watcher.next()
        assert (early.paths, early.final) == ({"app/main.py"}, False)
        assert yielded - saved < 0.7
        assert watcher.next()[1].final
        deleted = time.monotonic()
        (tree / "app" / "main.py").unlink()
        yielded, early = watcher.next()
        assert (early.paths, early.final) == ({"app/main.py"}, False)
        assert yielded - deleted >= 0.7
        assert watcher.next()[1].final
    finally:
        watcher.close()


def test_a_missing_root_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        Inotify(tmp_path / "nowhere")


# --- file-system reality (issue #6): editors, git, directories, odd names, the watch limit ---


def _default_ignore() -> IgnoreRules:
    shipped = tomllib.loads((Path(__file__).parents[1] / "config" / "defaults.toml").read_text())
    return IgnoreRules(shipped["ignore"])


def _editor_save(target: Path, editor: str) -> None:
    """The file operations of a real editor's save of ``target``, in its order."""
    folder, name = target.parent, target.name
    if editor == "vim":  # :w with 'backupcopy=auto' on a writable directory
        write(folder / f".{name}.swp", "swap")
        write(folder / "4913", "")
        (folder / "4913").unlink()
        os.rename(target, folder / f"{name}~")
        write(target, "print('vim')\n")
        (folder / f"{name}~").unlink()
        write(folder / f".{name}.swp", "swap again")
    else:  # JetBrains "safe write"
        write(folder / f"{name}___jb_tmp___", "print('jetbrains')\n")
        os.rename(target, folder / f"{name}___jb_old___")
        os.rename(folder / f"{name}___jb_tmp___", target)
        (folder / f"{name}___jb_old___").unlink()


@pytest.mark.parametrize("editor", ["vim", "jetbrains"])
def test_an_editor_save_reports_only_the_saved_file_under_its_final_name(
    tree: Path, editor: str
) -> None:
    """With devd's shipped ignore list as ``relevant``, a vim or JetBrains save (swap, probe,
    backup and temp files, renames onto the target) is one batch holding just the saved
    path, and the file holds the final content; the temp and probe files alone never open a
    batch."""
    rules = _default_ignore()
    watcher = Watching(tree, relevant=lambda path: not rules.excludes(path))
    try:
        target = tree / "app" / "main.py"
        _editor_save(target, editor)
        assert watcher.paths() == {"app/main.py"}
        assert editor in target.read_text()
        watcher.none_within()
        write(tree / "app" / "4913", "")
        (tree / "app" / "4913").unlink()
        write(tree / "app" / ".main.py.swx")
        write(tree / "app" / "x.py___jb_tmp___")
        watcher.none_within()
    finally:
        watcher.close()


def test_a_directory_deleted_and_recreated_is_watched_again(watching: Watching, tree: Path) -> None:
    """``rm -rf app && mkdir app`` then files made in it at once and later: all seen."""
    shutil.rmtree(tree / "app")
    (tree / "app").mkdir()
    write(tree / "app" / "sub" / "first.py")
    assert {"app", "app/main.py", "app/sub/first.py"} <= watching.paths()
    write(tree / "app" / "sub" / "later.py")
    write(tree / "app" / "top.py")
    assert watching.paths() == {"app/sub/later.py", "app/top.py"}


def test_a_file_renamed_across_directories_reports_both_paths(
    watching: Watching, tree: Path
) -> None:
    """A move from one watched directory to another names the old and the new path."""
    write(tree / "lib" / "util.py")
    watching.paths()
    os.rename(tree / "lib" / "util.py", tree / "app" / "util.py")
    assert watching.paths() == {"lib/util.py", "app/util.py"}


def test_names_with_spaces_unicode_and_newlines_are_reported_as_they_are(
    watching: Watching, tree: Path
) -> None:
    """Odd file names come back exactly, undecodable bytes included (surrogate-escaped)."""
    names = ["with space.py", "ünïcødé-文字.py", "new\nline.py", "tab\there.py"]
    for name in names:
        write(tree / "app" / name)
    raw = os.path.join(os.fsencode(tree / "app"), b"latin1-\xe9.py")
    with open(raw, "wb") as handle:
        handle.write(b"x")
    expected = {f"app/{name}" for name in names} | {"app/latin1-\udce9.py"}
    assert watching.paths() == expected


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def _two_branches(repo: Path, files: int) -> set[str]:
    """A repo on branch ``a`` with ``files`` files; branch ``b`` changes half of them,
    deletes a tenth, and adds a tenth in new directories. The paths that differ."""
    _git(repo.parent, "init", "-q", "-b", "a", str(repo))
    for number in range(files):
        write(repo / f"pkg{number % 20}" / f"mod{number}.py", f"{number}\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "a")
    _git(repo, "checkout", "-q", "-b", "b")
    for number in range(0, files, 2):
        write(repo / f"pkg{number % 20}" / f"mod{number}.py", f"{number} on b\n")
    for number in range(1, files, 10):
        (repo / f"pkg{number % 20}" / f"mod{number}.py").unlink()
    for number in range(files // 10):
        write(repo / f"new{number % 7}" / "deep" / f"added{number}.py")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "b")
    _git(repo, "checkout", "-q", "a")
    return set(_git(repo, "diff", "--name-only", "a", "b").splitlines())


def _batches_until_quiet(watcher: Watching, quiet: float = 1.5) -> list[Batch]:
    batches = [watcher.next(timeout=20)[1]]
    while True:
        try:
            batches.append(watcher.batches.get(timeout=quiet)[1])
        except queue.Empty:
            return batches


@pytest.mark.parametrize("operation", ["checkout", "stash"])
def test_git_checkout_or_stash_of_thousands_of_files_loses_nothing(
    tmp_path: Path, operation: str
) -> None:
    """``git checkout`` to a branch differing in 3,000 files, or ``git stash`` of 3,000
    changed files: every changed path is reported, in a few batches (not one per file)."""
    repo = tmp_path / "repo"
    differ = _two_branches(repo, 5000)
    watcher = Watching(repo, quiet_ms=50, prune=lambda directory: directory == ".git")
    try:
        if operation == "checkout":
            _git(repo, "checkout", "-q", "b")
        else:
            for number in range(3000):
                write(repo / f"pkg{number % 20}" / f"mod{number}.py", "local change\n")
            differ = set(_git(repo, "diff", "--name-only").splitlines())
            _batches_until_quiet(watcher, quiet=1.0)
            _git(repo, "stash", "-q")
        batches = _batches_until_quiet(watcher)
        seen = set().union(*(batch.paths for batch in batches))
        assert len(differ) > 2500
        assert differ <= seen, sorted(differ - seen)[:10]
        # few batches, not one per file: git pauses between its phases (working tree, index),
        # and on a loaded machine such a pause can outlast the 50 ms quiet period (CI saw 4)
        assert len(batches) <= 5, [len(batch.paths) for batch in batches]
        assert not [path for path in seen if path.startswith(".git/")]
    finally:
        watcher.close()


def _refuse_watches_after(monkeypatch: pytest.MonkeyPatch, allowed: int) -> None:
    """inotify_add_watch succeeds ``allowed`` times, then fails with ENOSPC (as at
    fs.inotify.max_user_watches; the real limit is shared, so it is not lowered)."""
    libc = inotify_module._load_libc()
    assert libc is not None
    real = libc.add_watch
    calls = [0]

    def add_watch(fd: int, path: bytes, mask: int) -> int:
        calls[0] += 1
        if calls[0] > allowed:
            ctypes.set_errno(errno.ENOSPC)
            return -1
        return int(real(fd, path, mask))

    monkeypatch.setattr(libc, "add_watch", add_watch)


def test_at_the_watch_limit_from_the_start_devd_polls_and_says_so(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No watch at all: one warning naming the limit and the polling; changes still come."""
    _refuse_watches_after(monkeypatch, 0)
    with capture_logs() as logs:
        watcher = Watching(tree)
        try:
            write(tree / "app" / "main.py", "print(7)\n")
            write(tree / "app" / "new" / "mod.py")
            assert watcher.paths(timeout=10) == {"app/main.py", "app/new", "app/new/mod.py"}
            write(tree / "app" / "main.py", "print(8)\n")
            assert watcher.paths(timeout=10) == {"app/main.py"}
        finally:
            watcher.close()
    warnings = [e for e in logs if "max_user_watches" in e["event"]]
    assert len(warnings) == 1
    assert "devd polls the tree every 1 s" in warnings[0]["event"]


def test_at_the_watch_limit_later_nothing_seen_so_far_is_lost(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The limit hit by a new directory: its files, and the save made with it, are reported
    by the polling that takes over, and later changes keep coming."""
    _refuse_watches_after(monkeypatch, 2)  # the root and app/
    with capture_logs() as logs:
        watcher = Watching(tree)
        try:
            write(tree / "app" / "main.py", "print(9)\n")
            write(tree / "app" / "pkg" / "mod.py")
            seen = set(watcher.paths(timeout=10))
            if "app/pkg/mod.py" not in seen:  # the first batch may close before the mkdir
                seen |= watcher.paths(timeout=10)
            assert {"app/main.py", "app/pkg/mod.py"} <= seen
            write(tree / "app" / "pkg" / "mod.py", "later\n")
            assert watcher.paths(timeout=10) == {"app/pkg/mod.py"}
        finally:
            watcher.close()
    assert len([e for e in logs if "max_user_watches" in e["event"]]) == 1
