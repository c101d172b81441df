"""devd.inotify against the real kernel: a real queue overflow, symlinks (outside the tree,
loops), and directories devd may not read (as an unprivileged user, since root reads all)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from devd.inotify import Inotify
from tests.conftest import missing

pytestmark = pytest.mark.skipif(not Inotify.available(), reason="inotify is Linux-only")

MAX_QUEUED = Path("/proc/sys/fs/inotify/max_queued_events")
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def write(path: Path, text: str = "x\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@contextlib.contextmanager
def small_event_queue(events: int) -> Iterator[None]:
    """``fs.inotify.max_queued_events`` lowered while an instance is made (the kernel reads
    it at inotify_init, so only instances made meanwhile get the small queue); restored."""
    try:
        before = MAX_QUEUED.read_text()
        MAX_QUEUED.write_text(f"{events}\n")
    except OSError as error:
        missing(f"cannot set {MAX_QUEUED}: {error}")
    try:
        yield
    finally:
        MAX_QUEUED.write_text(before)


def test_a_real_queue_overflow_reports_what_changed_and_says_so(tmp_path: Path) -> None:
    """The kernel drops events past its queue: devd lists the tree again and reports every
    path that differs from its stamps (nothing lost), not the untouched ones, and warns."""
    write(tmp_path / "app" / "sub" / "mod.py")
    write(tmp_path / "app" / "untouched.py")
    with small_event_queue(32):
        inotify = Inotify(tmp_path)
    with inotify, capture_logs() as logs:
        for number in range(200):
            write(tmp_path / "app" / f"new{number}.py")
        write(tmp_path / "app" / "sub" / "mod.py", "changed\n")
        (tmp_path / "app" / "gone").mkdir()
        (tmp_path / "app" / "gone").rmdir()
        changed = set(inotify.read())
        assert inotify.overflows == 1
    assert {f"app/new{n}.py" for n in range(200)} | {"app/sub/mod.py"} <= changed
    assert "app/untouched.py" not in changed
    warnings = [e for e in logs if "overflowed" in e["event"]]
    assert len(warnings) == 1
    assert "max_queued_events = 32" in warnings[0]["event"]


def test_symlinks_out_of_the_tree_and_loops_are_not_followed(tmp_path: Path) -> None:
    """Links to a directory outside, to its own parent, and in a loop: listed as links,
    never entered or watched; a change through them outside the tree is not seen."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    write(outside / "secret.txt")
    write(root / "app" / "main.py")
    (root / "app" / "out").symlink_to(outside, target_is_directory=True)
    (root / "app" / "up").symlink_to("..", target_is_directory=True)
    (root / "loop-a").symlink_to("loop-b")
    (root / "loop-b").symlink_to("loop-a")
    (root / "dangling").symlink_to("nowhere")
    with Inotify(root) as inotify:
        assert set(inotify.dirs.values()) == {"", "app"}
        assert {"app/out", "app/up", "loop-a", "loop-b", "dangling"} <= set(inotify.stamps)
        write(outside / "secret.txt", "changed\n")
        time.sleep(0.05)
        assert inotify.read() == []
        (root / "app" / "out").unlink()
        (root / "app" / "out").symlink_to(root / "app")
        time.sleep(0.05)
        assert set(inotify.read()) == {"app/out"}
        assert set(inotify.dirs.values()) == {"", "app"}


_WATCH_AS_NOBODY = """
import json, sys, time
from pathlib import Path
from structlog.testing import capture_logs
from devd.inotify import Inotify
root = Path(sys.argv[1])
with capture_logs() as logs, Inotify(root) as inotify:
    (root / "app" / "main.py").write_text("changed")
    time.sleep(0.05)
    changed = inotify.read()
print(json.dumps({"changed": changed, "events": [e["event"] for e in logs],
                  "dirs": sorted(inotify.dirs.values())}))
"""


def test_an_unreadable_directory_is_named_once_and_the_rest_is_watched() -> None:
    """As an unprivileged user: a directory without read permission is named in one warning
    (path, reason, what to do), skipped, and the rest of the tree is watched."""
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        os.chmod(root, 0o755)
        write(root / "app" / "main.py")
        write(root / "app" / "private" / "key.pem")
        os.chown(root / "app" / "main.py", 65534, 65534)
        os.chmod(root / "app" / "private", 0o000)
        result = subprocess.run(
            [*NOBODY, sys.executable, "-c", _WATCH_AS_NOBODY, str(root)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
        )
        os.chmod(root / "app" / "private", 0o755)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report["changed"]) == {"app/main.py"}
    assert report["dirs"] == ["", "app"]
    assert len(report["events"]) == 1
    assert "cannot watch app/private (permission denied)" in report["events"][0]
    assert ".dockerignore" in report["events"][0]
