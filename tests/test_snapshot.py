"""devd.snapshot on real trees: stamps tell exactly what changed between two listings."""

from __future__ import annotations

import os
from pathlib import Path

from devd.snapshot import changed, scan


def listing(root: Path) -> dict[str, tuple[int, ...]]:
    return scan(root, lambda directory: True, lambda path, error: None)


def test_changed_names_written_new_gone_and_chmodded_paths_only(tmp_path: Path) -> None:
    """A rewrite (same size), a new file, a removed one and a chmod are reported; a
    directory whose entries changed is not, and untouched files are not."""
    (tmp_path / "pkg").mkdir()
    for name in ("same.py", "edited.py", "gone.py", "mode.sh"):
        (tmp_path / "pkg" / name).write_text("1\n")
    before = listing(tmp_path)
    (tmp_path / "pkg" / "edited.py").write_text("2\n")
    os.utime(tmp_path / "pkg" / "edited.py", ns=(1, 1))
    (tmp_path / "pkg" / "new.py").write_text("n\n")
    (tmp_path / "pkg" / "gone.py").unlink()
    (tmp_path / "pkg" / "mode.sh").chmod(0o755)
    assert changed(before, listing(tmp_path)) == {
        "pkg/edited.py",
        "pkg/new.py",
        "pkg/gone.py",
        "pkg/mode.sh",
    }


def test_links_are_stamped_not_followed_and_pruned_directories_skipped(tmp_path: Path) -> None:
    """A link to a directory (here its own parent: a loop if followed) is one entry; a
    directory ``enter`` refuses is listed by its parent but not entered."""
    (tmp_path / "app" / "node_modules" / "pkg").mkdir(parents=True)
    (tmp_path / "app" / "up").symlink_to("..", target_is_directory=True)
    found = scan(tmp_path, lambda d: d != "app/node_modules", lambda path, error: None)
    assert set(found) == {"app", "app/up", "app/node_modules"}
