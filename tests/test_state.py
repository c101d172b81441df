"""devd.state: the run lock and the record of last builds, kept outside the project tree.

Everything lives under tmp_path; XDG_STATE_HOME points there so no test touches the real
state directory. Cross-process cases run a short child Python that uses devd.state itself.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from devd.state import (
    CYCLE_HISTORY,
    CYCLE_PATHS,
    AlreadyRunning,
    BuildRecord,
    RunLock,
    request_rebuild,
    state_dir,
    take_rebuild_request,
)


@pytest.fixture
def directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The state directory of project ``shop`` at ``tmp_path/project`` (not created yet)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return state_dir("shop", tmp_path / "project")


@pytest.fixture
def lock(directory: Path) -> Iterator[RunLock]:
    """A RunLock on ``directory``, released after the test whatever happened."""
    run_lock = RunLock(directory, "shop")
    yield run_lock
    run_lock.release()


def _child(code: str) -> subprocess.Popen[str]:
    """A child Python running ``code``, with line-buffered pipes."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_flock_conflicts_between_open_files_of_one_process(tmp_path: Path) -> None:
    """The assumption the same-process tests rest on: flock locks belong to the open file
    description, so a second open() of the same file in this process cannot take the lock."""
    path = tmp_path / "probe.lock"
    with path.open("a+") as first, path.open("a+") as second:
        fcntl.flock(first, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(BlockingIOError):
            fcntl.flock(second, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(first, fcntl.LOCK_UN)
        fcntl.flock(second, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_acquire_creates_the_directory_and_writes_the_pid(lock: RunLock) -> None:
    """``acquire`` creates the state directory and writes this process's pid to the lock
    file; ``release`` lets it be acquired again."""
    assert not lock.path.parent.exists()
    lock.acquire()
    assert lock.path.read_text() == str(os.getpid())
    lock.release()
    lock.acquire()
    lock.release()


def test_release_without_acquire_is_harmless(lock: RunLock) -> None:
    """``release`` on a lock never acquired (or released twice) does nothing."""
    lock.release()
    lock.acquire()
    lock.release()
    lock.release()


def test_second_lock_on_same_directory_is_refused(directory: Path, lock: RunLock) -> None:
    """A second RunLock on the same directory (another open file, same process) raises
    AlreadyRunning naming the project and the holder's pid, and does not disturb the holder."""
    probe = directory / "probe.lock"
    directory.mkdir(parents=True)
    with probe.open("a+") as first, probe.open("a+") as second:  # the flock assumption
        fcntl.flock(first, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(BlockingIOError):
            fcntl.flock(second, fcntl.LOCK_EX | fcntl.LOCK_NB)

    lock.acquire()
    other = RunLock(directory, "shop")
    with pytest.raises(AlreadyRunning) as caught:
        other.acquire()
    message = str(caught.value)
    assert "'shop'" in message
    assert f"pid {os.getpid()}" in message
    assert str(lock.path) in message
    assert caught.value.exit_code == 2
    assert lock.path.read_text() == str(os.getpid())
    assert other.holder() == os.getpid()

    lock.release()
    other.acquire()
    other.release()


def test_holder_gives_the_pid_while_held_and_none_after(directory: Path, lock: RunLock) -> None:
    """``holder`` reports the holding pid while the lock is held (seen from another RunLock
    too) and None once it is released; asking does not take the lock."""
    assert lock.holder() is None  # no state directory yet
    lock.acquire()
    assert lock.holder() == os.getpid()
    assert RunLock(directory, "shop").holder() == os.getpid()
    lock.release()
    assert lock.holder() is None
    assert RunLock(directory, "shop").holder() is None
    lock.acquire()  # holder() left the lock free
    assert lock.holder() == os.getpid()


def test_lock_file_of_a_dead_process_does_not_block(directory: Path, lock: RunLock) -> None:
    """A pid left in the lock file with no lock held (the process died) neither blocks
    ``acquire`` nor counts as a holder; the new holder's pid replaces it."""
    directory.mkdir(parents=True)
    lock.path.write_text("999999999")
    assert lock.holder() is None
    lock.acquire()
    assert lock.path.read_text() == str(os.getpid())
    assert lock.holder() == os.getpid()


def test_lock_of_a_killed_process_is_freed_by_the_kernel(directory: Path, lock: RunLock) -> None:
    """A process that acquired the lock and exited without releasing it leaves a stale pid,
    and the lock is free."""
    with _child(
        f"""
        import os
        from pathlib import Path
        from devd.state import RunLock
        held = RunLock(Path({str(directory)!r}), "shop")
        held.acquire()
        os._exit(0)
        """
    ) as child:
        child.communicate(timeout=30)
    assert child.returncode == 0
    assert lock.path.read_text() == str(child.pid)
    assert lock.holder() is None
    lock.acquire()
    assert lock.holder() == os.getpid()


def test_lock_held_by_another_process(directory: Path, lock: RunLock) -> None:
    """While another live process holds the lock, ``acquire`` names that process's pid and
    ``holder`` returns it; once it exits, the lock is free."""
    with _child(
        f"""
        import sys
        from pathlib import Path
        from devd.state import RunLock
        held = RunLock(Path({str(directory)!r}), "shop")
        held.acquire()
        print("held", flush=True)
        sys.stdin.readline()
        """
    ) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "held"
            assert lock.holder() == child.pid
            with pytest.raises(AlreadyRunning, match=rf"'shop' \(pid {child.pid}\)"):
                lock.acquire()
        finally:
            child.communicate("\n", timeout=30)
    assert child.returncode == 0
    assert lock.holder() is None
    lock.acquire()


def test_build_record_round_trip(directory: Path) -> None:
    """``write`` stores fields per service with an ``at`` timestamp; ``read`` (also from a new
    object) returns them; writing a service again replaces only its entry."""
    record = BuildRecord(directory)
    assert record.read() == {}
    record.write("web", ok=True, seconds=1.5, trigger="app/x.py (code)")
    record.write("worker", ok=False, error="RUN make failed")
    data = BuildRecord(directory).read()
    assert set(data) == {"web", "worker"}
    assert {k: v for k, v in data["web"].items() if k != "at"} == {
        "ok": True,
        "seconds": 1.5,
        "trigger": "app/x.py (code)",
    }
    assert isinstance(data["web"]["at"], str)
    assert data["worker"]["error"] == "RUN make failed"

    record.write("web", ok=False)
    data = record.read()
    assert data["web"]["ok"] is False
    assert "seconds" not in data["web"]
    assert data["worker"]["ok"] is False
    assert not record.path.with_suffix(".tmp").exists()


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"", b"[1, 2, 3]", b'"text"', b"\xff\xfe\x00garbage"],
    ids=["broken", "empty", "list", "string", "not-utf8"],
)
def test_corrupt_build_record_reads_as_empty(directory: Path, content: bytes) -> None:
    """A build record that is not a JSON object reads as ``{}``, and the next write
    replaces it with a valid record."""
    directory.mkdir(parents=True)
    record = BuildRecord(directory)
    record.path.write_bytes(content)
    assert record.read() == {}
    record.write("web", ok=True)
    assert set(json.loads(record.path.read_text(encoding="utf-8"))) == {"web"}


def test_state_dir_differs_for_two_roots_with_the_same_project_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two checkouts named alike get separate state directories under XDG_STATE_HOME/devd,
    each named after the project; the same root always maps to the same directory."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    one = state_dir("shop", tmp_path / "a" / "shop")
    two = state_dir("shop", tmp_path / "b" / "shop")
    assert one != two
    assert one == state_dir("shop", tmp_path / "a" / "shop")
    for found in (one, two):
        assert found.parent == tmp_path / "state" / "devd"
        assert found.name.startswith("shop-")


def test_state_dir_defaults_to_local_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without XDG_STATE_HOME (unset or empty), state lives under ~/.local/state/devd."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    assert state_dir("shop", tmp_path).parent == tmp_path / "home" / ".local" / "state" / "devd"
    monkeypatch.setenv("XDG_STATE_HOME", "")
    assert state_dir("shop", tmp_path).parent == tmp_path / "home" / ".local" / "state" / "devd"


def test_separate_roots_do_not_share_a_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Holding the lock of one checkout does not block another checkout of the same name."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    first = RunLock(state_dir("shop", tmp_path / "a"), "shop")
    second = RunLock(state_dir("shop", tmp_path / "b"), "shop")
    try:
        first.acquire()
        second.acquire()
        assert first.holder() == second.holder() == os.getpid()
    finally:
        first.release()
        second.release()


def test_cycles_round_trip_oldest_first_per_service(directory: Path) -> None:
    """``record_cycle`` appends to the service's history; ``cycles`` (also from a new object)
    returns them oldest first, with a timestamp and the number of trigger paths."""
    record = BuildRecord(directory)
    assert record.cycles("web") == []
    record.record_cycle("web", "dependency", ["requirements.txt"])
    record.record_cycle("web", "code", ["app/a.py", "app/b.py"])
    record.record_cycle("worker", "manual", [])
    history = BuildRecord(directory).cycles("web")
    assert [(c.kind, c.paths, c.path_count) for c in history] == [
        ("dependency", ("requirements.txt",), 1),
        ("code", ("app/a.py", "app/b.py"), 2),
    ]
    assert all(c.at for c in history)
    assert [c.kind for c in record.cycles("worker")] == ["manual"]


def test_cycles_are_bounded_and_leave_the_last_builds_alone(directory: Path) -> None:
    """The history keeps the newest CYCLE_HISTORY cycles and CYCLE_PATHS paths of each (with
    the full count); ``write``/``read`` of the last build are unaffected, and vice versa."""
    record = BuildRecord(directory)
    record.write("web", ok=True, summary="1 of 3 steps rebuilt, 2 cached")
    for i in range(CYCLE_HISTORY + 10):
        record.record_cycle("web", "code", [f"f{i}.py"])
    record.record_cycle("web", "code", [f"g{i}.py" for i in range(CYCLE_PATHS + 5)])
    record.write("web", ok=False, error="boom")
    history = record.cycles("web")
    assert len(history) == CYCLE_HISTORY
    assert history[0].paths == ("f11.py",)
    assert len(history[-1].paths) == CYCLE_PATHS
    assert history[-1].path_count == CYCLE_PATHS + 5
    assert record.read()["web"]["error"] == "boom"
    assert set(record.read()) == {"web"}


def test_unreadable_or_odd_cycle_files_read_as_empty(directory: Path) -> None:
    """A corrupt file, or entries of the wrong shape, are skipped instead of failing."""
    record = BuildRecord(directory)
    directory.mkdir(parents=True)
    record.cycles_path.write_text("not json")
    assert record.cycles("web") == []
    record.cycles_path.write_text(
        json.dumps({"web": [{"kind": "code"}, "x", {"kind": "code", "paths": ["a"]}]})
    )
    assert [c.paths for c in record.cycles("web")] == [("a",)]
    record.record_cycle("web", "dependency", ["r.txt"])  # appends after what was readable
    assert [c.kind for c in record.cycles("web")][-1] == "dependency"


def test_rebuild_requests_add_up_until_taken(tmp_path: Path) -> None:
    """``devd rebuild SERVICE`` requests made before ``devd up`` takes them add up (each
    service once); taking empties them; no request at all is None (every service)."""
    assert take_rebuild_request(tmp_path / "state") is None
    request_rebuild(tmp_path / "state", ["api"])
    request_rebuild(tmp_path / "state", ["web", "api"])
    assert take_rebuild_request(tmp_path / "state") == ["api", "web"]
    assert take_rebuild_request(tmp_path / "state") is None
    assert list((tmp_path / "state").iterdir()) == []
