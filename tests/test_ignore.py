"""devd.ignore: .dockerignore decisions as docker-py makes them, with the deciding pattern."""

from __future__ import annotations

import tomllib

import pytest

from devd.config import shipped_config_dir
from devd.core.ignore import IgnoreRules, ignore_file_for, parse_patterns


def shipped_ignore() -> IgnoreRules:
    with (shipped_config_dir() / "defaults.toml").open("rb") as handle:
        return IgnoreRules(tomllib.load(handle)["ignore"])


def test_parse_patterns_skips_comments_and_blank_lines() -> None:
    """Comment lines and blank lines are dropped; surrounding whitespace is trimmed."""
    text = "# build output\n\n  dist  \n*.log\n   # indented comment\n!keep.log\n"
    assert parse_patterns(text) == ("dist", "*.log", "!keep.log")


def test_ignore_file_for_names_the_dockerfile_specific_file() -> None:
    """The Dockerfile-specific ignore file sits beside the Dockerfile: ``<name>.dockerignore``."""
    assert ignore_file_for("Dockerfile") == "Dockerfile.dockerignore"
    assert ignore_file_for("docker/api.Dockerfile") == "docker/api.Dockerfile.dockerignore"


def test_no_patterns_exclude_nothing() -> None:
    """An empty ignore file excludes nothing, and no pattern decided."""
    verdict = IgnoreRules(()).verdict("src/app.py")
    assert not verdict.excluded
    assert verdict.pattern is None


def test_anchored_pattern_matches_only_at_the_root() -> None:
    """Patterns are anchored at the context root: ``*.log`` excludes ``a.log``, not ``d/a.log``."""
    rules = IgnoreRules(["*.log"])
    assert rules.excludes("debug.log")
    assert not rules.excludes("logs/debug.log")


def test_double_star_matches_at_any_depth() -> None:
    """``**/__pycache__`` excludes the directory and everything in it, at any depth."""
    rules = IgnoreRules(["**/__pycache__"])
    for path in ("__pycache__/m.pyc", "pkg/__pycache__/m.pyc", "a/b/c/__pycache__/x/y.pyc"):
        verdict = rules.verdict(path)
        assert verdict.excluded, path
        assert verdict.pattern == "**/__pycache__"
    assert not rules.excludes("pkg/module.py")


def test_double_star_directory_pattern_excludes_files_inside_it_at_the_root() -> None:
    """``**/.git`` excludes ``.git/HEAD``: the context walk never enters an excluded directory."""
    rules = IgnoreRules(["**/.git"])
    assert rules.verdict(".git/HEAD").excluded
    assert rules.verdict(".git/objects/ab/cdef").excluded
    assert rules.verdict(".git/HEAD").pattern == "**/.git"


def test_excluded_directory_excludes_its_contents() -> None:
    """A directory pattern excludes everything below it; the pattern is the deciding one."""
    rules = IgnoreRules(["node_modules"])
    verdict = rules.verdict("node_modules/left-pad/index.js")
    assert verdict.excluded
    assert verdict.pattern == "node_modules"


def test_trailing_slash_pattern_excludes_the_directory() -> None:
    """``docs/`` (trailing slash) excludes the docs directory and its contents."""
    rules = IgnoreRules(["docs/"])
    verdict = rules.verdict("docs/guide/index.md")
    assert verdict.excluded
    assert verdict.pattern == "docs/"
    assert not rules.excludes("docsite/index.md")


def test_negation_reincludes_a_file_inside_an_excluded_directory() -> None:
    """``!docs/keep.md`` after ``docs`` brings that file back; its siblings stay excluded."""
    rules = IgnoreRules(["docs", "!docs/keep.md"])
    kept = rules.verdict("docs/keep.md")
    assert not kept.excluded
    assert kept.pattern == "!docs/keep.md"
    other = rules.verdict("docs/other.md")
    assert other.excluded
    assert other.pattern == "docs"
    assert rules.excludes("docs/sub/deep.md")


def test_last_matching_pattern_wins() -> None:
    """Patterns apply in order: a later exclude overrides an earlier re-include."""
    rules = IgnoreRules(["*.md", "!README.md", "README*"])
    verdict = rules.verdict("README.md")
    assert verdict.excluded
    assert verdict.pattern == "README*"
    assert not IgnoreRules(["*.md", "!README.md"]).excludes("README.md")


def test_exclude_everything_then_reinclude() -> None:
    """The allow-list style ``*`` then ``!src`` keeps only what is re-included."""
    rules = IgnoreRules(["*", "!src", "!requirements.txt"])
    assert not rules.excludes("requirements.txt")
    assert not rules.excludes("src/app.py")
    assert rules.excludes("README.md")
    assert rules.verdict("README.md").pattern == "*"


def test_dockerignore_itself_is_never_excluded() -> None:
    """docker-py always keeps ``.dockerignore`` (it appends ``!.dockerignore``)."""
    assert not IgnoreRules(["*", ".dockerignore"]).excludes(".dockerignore")


@pytest.mark.parametrize(
    ("path", "pattern"),
    [
        (".git/HEAD", "**/.git"),
        (".git/refs/heads/main", "**/.git"),
        ("vendor/lib/.git/config", "**/.git"),
        ("src/.app.py.swp", "**/.*.sw[a-px]"),
        (".Dockerfile.swo", "**/.*.sw[a-px]"),
        ("src/.app.py.swx", "**/.*.sw[a-px]"),
        (".swp", "**/.sw[a-px]"),
        ("src/4913", "**/4913"),
        ("4913", "**/4913"),
        ("src/app.py~", "**/*~"),
        ("src/app.py___jb_tmp___", "**/*___jb_tmp___"),
        ("src/app.py___jb_old___", "**/*___jb_old___"),
        ("src/.#app.py", "**/.#*"),
        ("src/#app.py#", "**/#*#"),
        ("src/__pycache__/app.cpython-312.pyc", "**/__pycache__"),
        ("app.pyc", "**/*.py[cod]"),
        (".idea/workspace.xml", "**/.idea"),
        (".pytest_cache/v/cache/nodeids", "**/.pytest_cache"),
        ("pkg/.DS_Store", "**/.DS_Store"),
    ],
)
def test_shipped_ignore_list_covers_editor_and_tool_noise(path: str, pattern: str) -> None:
    """devd's own list (config/defaults.toml) ignores swap files, VCS data and caches."""
    verdict = shipped_ignore().verdict(path)
    assert verdict.excluded
    assert verdict.pattern == pattern


@pytest.mark.parametrize(
    "path",
    ["src/app.py", "requirements.txt", "Dockerfile", ".dockerignore", "src/swap.py", "49130"],
)
def test_shipped_ignore_list_keeps_real_files(path: str) -> None:
    """Ordinary project files are not on devd's own ignore list."""
    assert not shipped_ignore().excludes(path)
