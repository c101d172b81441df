"""devd.copy_sources: which context paths a COPY/ADD source reads and where they land."""

from __future__ import annotations

import pytest

from devd.core.copy_sources import has_glob, landing_path, matched_root, reads
from devd.core.dockerfile import ContextSource


def src(pattern: str, *excludes: str) -> ContextSource:
    return ContextSource(pattern, tuple(excludes))


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [("*.txt", True), ("src/?.py", True), ("conf/[ab].ini", True), ("src/app.py", False)],
)
def test_has_glob(pattern: str, expected: bool) -> None:
    """``*``, ``?`` and ``[`` make a source a wildcard; anything else names a path."""
    assert has_glob(pattern) is expected


def test_whole_context_source_reads_everything() -> None:
    """The source ``.`` (stored as ``""``) reads every path of the context."""
    assert matched_root("", "deep/down/file.py") == ""
    assert reads(src(""), "app.py")


def test_plain_source_names_a_file_or_a_directory() -> None:
    """A plain source reads itself and, as a directory, everything under it; nothing else."""
    assert matched_root("requirements.txt", "requirements.txt") == "requirements.txt"
    assert matched_root("src", "src/pkg/mod.py") == "src"
    assert matched_root("src", "srcs/mod.py") is None
    assert matched_root("src/app.py", "src") is None


@pytest.mark.parametrize(
    ("pattern", "path", "root"),
    [
        ("*.txt", "requirements.txt", "requirements.txt"),
        ("*.txt", "docs/notes.txt", None),  # * never crosses a /
        ("src/*.py", "src/main.py", "src/main.py"),
        ("src/*.py", "src/pkg/mod.py", None),
        ("src/*", "src/pkg/mod.py", "src/pkg"),  # a matched directory is copied whole
        ("requirements*.txt", "requirements-dev.txt", "requirements-dev.txt"),
        ("app?.py", "app1.py", "app1.py"),
        ("app?.py", "app10.py", None),
        ("*.py", ".hidden.py", ".hidden.py"),  # Go's Match has no special leading dot
        ("*.TXT", "notes.txt", None),  # case-sensitive
    ],
)
def test_wildcards_follow_go_filepath_match(pattern: str, path: str, root: str | None) -> None:
    """Wildcards match one path component at a time, as Go's ``filepath.Match``."""
    assert matched_root(pattern, path) == root


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("conf/[a-c]*.ini", "conf/app.ini", True),
        ("conf/[a-c]*.ini", "conf/db.ini", False),
        ("data/file[^0-9].csv", "data/fileA.csv", True),
        ("data/file[^0-9].csv", "data/file1.csv", False),
        # Go negates only with ^: in [!0-9] the ! is an ordinary member of the class.
        ("data/file[!0-9].csv", "data/file1.csv", True),
        ("data/file[!0-9].csv", "data/file!.csv", True),
        ("data/file[!0-9].csv", "data/fileA.csv", False),
        ("lit\\*.txt", "lit*.txt", True),
        ("lit\\*.txt", "litX.txt", False),
    ],
)
def test_character_classes_and_escapes(pattern: str, path: str, matches: bool) -> None:
    """Character classes, ``[^...]`` negation and ``\\`` escapes behave as in Go."""
    assert (matched_root(pattern, path) is not None) is matches


def test_exclude_is_relative_to_the_source_and_stays_in_one_component() -> None:
    """``COPY --exclude=*.md . /app`` drops top-level Markdown only (moby/buildkit#5509)."""
    step = src("", "*.md")
    assert not reads(step, "README.md")
    assert reads(step, "docs/guide.md")
    assert not reads(src("", "**/*.md"), "docs/guide.md")


def test_exclude_directory_drops_everything_under_it() -> None:
    """An excluded directory takes its whole subtree with it."""
    step = src("", "tests")
    assert not reads(step, "tests/test_app.py")
    assert not reads(step, "tests/unit/test_x.py")
    assert reads(step, "pkg/tests/test_y.py")


def test_exclude_is_matched_below_the_source_directory() -> None:
    """``COPY --exclude=storage/views app/ ...`` drops ``app/storage/views``, keeps the rest."""
    step = src("app", "storage/views")
    assert not reads(step, "app/storage/views/home.html")
    assert reads(step, "app/storage/cache/x")


def test_exclude_does_not_filter_the_named_source_itself() -> None:
    """A file the source names or a wildcard matches is not tested (moby/buildkit#5489)."""
    assert reads(src("notes.txt", "*.txt"), "notes.txt")
    assert reads(src("*.txt", "*.txt"), "requirements.txt")


def test_landing_of_a_directory_source_keeps_the_relative_path() -> None:
    """A directory's contents land under the destination (the directory itself is not copied)."""
    assert landing_path(src("src"), "/app/", "src/pkg/mod.py", False) == "/app/pkg/mod.py"
    assert landing_path(src("src"), "/app", "src/pkg/mod.py", False) == "/app/pkg/mod.py"


def test_landing_of_the_whole_context() -> None:
    """``COPY . /app/`` puts each path under /app at its context-relative path."""
    assert landing_path(src(""), "/app/", "src/app.py", False) == "/app/src/app.py"


def test_landing_of_a_file_source() -> None:
    """A file goes to the destination itself, or into it when it ends with ``/``."""
    assert landing_path(src("app.py"), "/srv/main.py", "app.py", False) == "/srv/main.py"
    assert landing_path(src("app.py"), "/srv/", "app.py", False) == "/srv/app.py"


def test_landing_with_several_sources_goes_into_the_destination() -> None:
    """With several sources the destination is a directory."""
    assert landing_path(src("a.txt"), "/data", "a.txt", True) == "/data/a.txt"


def test_landing_of_a_wildcard_match_goes_into_the_destination() -> None:
    """A file matched by a wildcard lands inside the destination directory."""
    assert landing_path(src("*.txt"), "/app/", "requirements.txt", False) == (
        "/app/requirements.txt"
    )


def test_landing_is_none_for_a_path_the_source_does_not_read() -> None:
    """No landing path for a path outside the source."""
    assert landing_path(src("src"), "/app/", "tests/test_x.py", False) is None
