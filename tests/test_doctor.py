"""devd.doctor: each check on a sample with the problem and one without (pure, from text and
plain listings); the context walk on real trees; the whole doctor on the seed guide's example
Dockerfile and on the bundled example; layer sizes from a real busybox build.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from devd import config
from devd.core.builders import Builder
from devd.core.classify import BuildView
from devd.core.dockerfile import parse
from devd.core.ignore import IgnoreRules, parse_patterns
from devd.daemon.names import image_tag as devd_image_tag
from devd.doctor import (
    LARGE_CONTEXT,
    ContextFile,
    ContextListing,
    Finding,
    ImageFacts,
    Layer,
    ServiceFacts,
    check_apt,
    check_base_images,
    check_context_contents,
    check_context_size,
    check_fetches,
    check_ignore_file,
    check_instruction_order,
    check_layers,
    check_manifest_churn,
    check_no_cache_config,
    check_pip_cache,
    check_root_only_patterns,
    check_secrets,
    diagnose,
    exit_code,
    human_size,
    render,
    run_doctor,
    to_json,
    walk_context,
)
from devd.engine.context import build_context
from devd.engine.engine import Engine, owner_labels
from devd.errors import ConfigError
from devd.state import BuildRecord, Cycle, state_dir

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "hello"

# The seed guide's example Dockerfile, its layers in the guide's order.
SEED_DOCKERFILE = """\
FROM python:3.11-slim

RUN apt-get update && apt-get install -y --no-install-recommends gcc \\
    && rm -rf /var/lib/apt/lists/*

RUN groupadd -r wpgbot && useradd -r -g wpgbot wpgbot

WORKDIR /app

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
CMD ["python", "main.py"]
"""

GOOD = """\
FROM python:3.12-slim
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
CMD ["python", "-m", "app"]
"""


def make_view(dockerfile: str, ignore: str = "", *, context: str = "") -> BuildView:
    prefix = f"{context}/" if context else ""
    return BuildView(
        service="app",
        context=context,
        dockerfile_path=f"{prefix}Dockerfile",
        dockerfile=parse(dockerfile, f"{prefix}Dockerfile"),
        target=None,
        ignore_file=f"{prefix}.dockerignore",
        ignore_rules=IgnoreRules(parse_patterns(ignore)),
        watch_ignore=IgnoreRules(()),
    )


def listing(*paths: str, size: int = 100) -> ContextListing:
    return ContextListing(tuple(ContextFile(path, size) for path in paths))


def checks(findings: list[Finding]) -> dict[str, str]:
    """check id -> level (the strongest when a check fires more than once)."""
    result: dict[str, str] = {}
    for finding in findings:
        if result.get(finding.check) != "warning":
            result[finding.check] = finding.level
    return result


def warnings(findings: list[Finding]) -> set[str]:
    return {f.check for f in findings if f.level == "warning"}


# --- instruction order ----------------------------------------------------------------------


def test_code_copied_before_the_install_is_a_warning_at_the_copy() -> None:
    view = make_view(
        "FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\n"
        "RUN pip install --no-cache-dir -r requirements.txt\nCMD python -m app\n"
    )
    [finding] = check_instruction_order(view)
    assert (finding.check, finding.level, finding.file, finding.line) == (
        "order-code-before-install", "warning", "Dockerfile", 3,
    )  # fmt: skip
    assert "copies the whole context before `RUN pip install" in finding.message
    assert "(line 4)" in finding.message
    assert "re-runs the install" in finding.cost
    assert "`COPY requirements.txt ./`" in finding.fix


def test_manifests_first_then_code_is_fine() -> None:
    assert check_instruction_order(make_view(GOOD)) == []
    assert check_instruction_order(make_view(SEED_DOCKERFILE)) == []


def test_a_code_directory_before_npm_ci_suggests_the_npm_manifests() -> None:
    view = make_view(
        "FROM node:20.11-slim\nWORKDIR /app\nCOPY package.json package-lock.json ./\n"
        "COPY src/ src/\nRUN npm ci\nCMD node src/index.js\n"
    )
    [finding] = check_instruction_order(view)
    assert finding.line == 4
    assert "files other than manifests" in finding.message
    assert "package.json package-lock.json" in finding.fix


def test_installing_the_project_itself_after_the_code_suggests_dependencies_first() -> None:
    view = make_view("FROM python:3.12-slim\nCOPY . /build\nRUN pip install /build\n")
    [finding] = check_instruction_order(view)
    assert finding.check == "order-code-before-install"
    assert "`pip install --no-deps`" in finding.fix


def test_system_packages_installed_after_the_code_should_move_up() -> None:
    view = make_view("FROM debian:12\nCOPY . /src\nRUN apt-get update && apt-get install -y make\n")
    [finding] = check_instruction_order(view)
    assert finding.check == "order-code-before-install"
    assert finding.fix.startswith("move `RUN apt-get update")


def test_no_deps_install_of_the_project_after_the_code_is_only_an_info() -> None:
    view = make_view(
        "FROM python:3.12-slim\nWORKDIR /app\nCOPY pyproject.toml requirements.txt ./\n"
        "RUN pip install --no-cache-dir -r requirements.txt\nCOPY . .\n"
        "RUN pip install --no-cache-dir --no-deps -e .\n"
    )
    [finding] = check_instruction_order(view)
    assert (finding.check, finding.level, finding.line) == ("run-after-code-copy", "info", 6)


def test_run_after_a_whole_context_copy_is_an_info_and_none_without_a_run() -> None:
    after = make_view("FROM python:3.12-slim\nCOPY . /app\nRUN python -m compileall /app\n")
    assert checks(check_instruction_order(after)) == {"run-after-code-copy": "info"}
    assert check_instruction_order(make_view("FROM python:3.12-slim\nCOPY . /app\n")) == []


# --- manifest churn -------------------------------------------------------------------------


def cycle(kind: str, *paths: str) -> Cycle:
    return Cycle("2024-01-01T00:00:00", kind, paths, len(paths))


def test_a_manifest_behind_most_rebuilds_is_a_warning_naming_the_install() -> None:
    view = make_view(GOOD)
    cycles = [
        cycle("dependency", "requirements.txt"),
        cycle("code", "app/x.py"),
        cycle("dependency", "requirements.txt", "app/x.py"),
        cycle("manual"),
        cycle("dependency", "requirements.txt"),
        cycle("dependency", "requirements.txt"),
    ]
    [finding] = check_manifest_churn(view, cycles)
    assert (finding.check, finding.level, finding.file) == (
        "manifest-churn", "warning", "requirements.txt",
    )  # fmt: skip
    assert "4 of the last 5 rebuilds were dependency rebuilds" in finding.message
    assert "requirements.txt triggered 4 of them" in finding.message
    assert "line 4 `RUN pip install --no-cache-dir -r requirements.txt`" in finding.cost
    assert "rewrites requirements.txt" in finding.fix


def test_occasional_dependency_rebuilds_are_fine() -> None:
    cycles = [cycle("code", "app/x.py")] * 8 + [cycle("dependency", "requirements.txt")] * 2
    assert check_manifest_churn(make_view(GOOD), cycles) == []
    assert check_manifest_churn(make_view(GOOD), [cycle("dependency", "requirements.txt")]) == []
    assert check_manifest_churn(make_view(GOOD), []) == []


def test_code_that_counts_as_a_dependency_points_at_the_order() -> None:
    view = make_view("FROM python:3.12-slim\nCOPY . /app\nRUN pip install -r /app/req.txt\n")
    cycles = [cycle("dependency", "app/main.py")] * 3
    [finding] = check_manifest_churn(view, cycles)
    assert "is not a dependency manifest" in finding.fix


# --- the ignore file -------------------------------------------------------------------------


def test_missing_ignore_file_with_a_whole_context_copy_is_a_warning() -> None:
    [finding] = check_ignore_file(make_view(GOOD), None, listing("app/x.py", "Dockerfile"))
    assert (finding.check, finding.level, finding.file) == (
        "ignore-missing", "warning", ".dockerignore",
    )  # fmt: skip
    assert "2 files" in finding.message
    assert "`COPY . .` (Dockerfile line 5)" in finding.cost
    assert finding.fix.startswith("create .dockerignore with: .git .venv **/__pycache__")


def test_missing_ignore_file_is_an_info_when_nothing_is_copied_wholesale_or_unwanted() -> None:
    view = make_view("FROM python:3.12-slim\nCOPY app.py /app.py\n")
    [finding] = check_ignore_file(view, None, listing("app.py", "Dockerfile"))
    assert finding.level == "info"


def test_missing_ignore_file_suggests_what_the_context_holds() -> None:
    view = make_view("FROM node:20.11\nCOPY app.js /app.js\n")
    [finding] = check_ignore_file(view, None, listing("app.js", "web/node_modules/x/i.js"))
    assert finding.level == "warning"
    assert "**/node_modules" in finding.fix


def test_an_ignore_file_that_exists_is_not_reported_missing() -> None:
    assert check_ignore_file(make_view(GOOD), "", listing("app/x.py")) == []


# --- what the context sends ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("check", "paths", "pattern"),
    [
        ("context-vcs", [".git/HEAD", ".git/objects/ab/cd"], ".git"),
        ("context-virtualenv", [".venv/pyvenv.cfg", ".venv/lib/x.py"], ".venv"),
        ("context-virtualenv", ["env/pyvenv.cfg", "env/bin/python"], "env"),
        ("context-bytecode", ["app/__pycache__/x.cpython-312.pyc"], "**/__pycache__"),
        ("context-bytecode", ["app/old.pyc"], "**/*.py[cod]"),
        ("context-node-modules", ["web/node_modules/react/index.js"], "**/node_modules"),
        ("context-build-output", ["dist/app-1.0.tar.gz"], "dist"),
        ("context-build-output", ["app/.pytest_cache/v/x"], "**/.pytest_cache"),
        ("context-build-output", ["src/app.egg-info/PKG-INFO"], "**/*.egg-info"),
        ("context-database", ["db.sqlite3"], "db.sqlite3"),
        ("context-database", ["data/app.db"], "**/app.db"),
    ],
)
def test_unwanted_entries_copied_into_the_image_are_warnings(
    check: str, paths: list[str], pattern: str
) -> None:
    view = make_view(GOOD, ".env\n")
    [finding] = check_context_contents(view, True, listing("app/main.py", *paths))
    assert (finding.check, finding.level, finding.file) == (check, "warning", ".dockerignore")
    assert "not excluded by .dockerignore" in finding.message
    assert "`COPY . .` (line 5) copies them into the image" in finding.cost
    assert pattern in finding.fix.split()


def test_a_clean_context_has_no_unwanted_entries() -> None:
    clean = listing(
        "app/main.py", "app/build.py", "src/dist/x.py", "requirements.txt", "Dockerfile"
    )
    assert check_context_contents(make_view(GOOD), True, clean) == []


def test_small_unwanted_entries_no_copy_reads_are_an_info_large_ones_a_warning() -> None:
    view = make_view("FROM python:3.12-slim\nCOPY app.py /app.py\n")
    small = check_context_contents(view, True, listing("app.py", ".git/HEAD"))
    assert [(f.check, f.level) for f in small] == [("context-vcs", "info")]
    assert "no COPY reads them" in small[0].cost
    large = check_context_contents(view, True, listing("app.py", ".git/pack", size=50_000_000))
    assert [(f.check, f.level) for f in large] == [("context-vcs", "warning")]


def test_secrets_in_the_context_are_a_warning_naming_the_copy() -> None:
    context = listing("app/main.py", ".env", "deploy/id_rsa", ".aws/credentials", "tls/site.pem")
    [finding] = check_secrets(make_view(GOOD), True, context)
    assert (finding.check, finding.level) == ("context-secrets", "warning")
    assert set(finding.paths) == {".env", "deploy/id_rsa", ".aws/credentials", "tls/site.pem"}
    assert "puts .env" in finding.cost
    assert {".env", "**/id_rsa", ".aws", "**/site.pem"} <= set(finding.fix.split())


def test_example_env_files_and_public_keys_are_not_secrets() -> None:
    context = listing(".env.example", "deploy/id_rsa.pub", "app/keys.py", "app/environment.py")
    assert check_secrets(make_view(GOOD), True, context) == []


def test_secrets_nothing_copies_are_still_a_warning() -> None:
    view = make_view("FROM python:3.12-slim\nCOPY app.py /app.py\n")
    [finding] = check_secrets(view, False, listing("app.py", ".env"))
    assert finding.level == "warning"
    assert "no ignore file" in finding.message
    assert "the first `COPY . .` puts them into the image" in finding.cost


def test_root_only_patterns_show_the_paths_that_slip_through() -> None:
    ignore = "# caches\n__pycache__\n*.pyc\n.git\n"
    context = listing("app/main.py", "app/__pycache__/main.cpython-312.pyc", "old/x.pyc")
    findings = check_root_only_patterns(make_view(GOOD, ignore), ignore, context)
    assert [(f.level, f.line) for f in findings] == [("warning", 2), ("warning", 3)]
    pycache, pyc = findings
    assert pycache.paths == ("app/__pycache__/main.cpython-312.pyc",)
    assert pycache.fix == "write `**/__pycache__` (matches at any depth)"
    assert "1 file below the root slip through" in pycache.message
    assert "`COPY . .` copies them into the image" in pycache.cost
    assert set(pyc.paths) == {"app/__pycache__/main.cpython-312.pyc", "old/x.pyc"}


def test_anywhere_patterns_and_root_names_are_fine() -> None:
    ignore = "**/__pycache__\n**/*.pyc\n.git\n.venv\n/node_modules\n!keep.pyc\n"
    context = listing("app/main.py", "app/git.py", "docs/venv.md")
    assert check_root_only_patterns(make_view(GOOD, ignore), ignore, context) == []


def test_an_allow_list_ignore_file_lets_nothing_slip() -> None:
    """`*` then `!devd/`: what the re-includes let in is meant, not a slip (devd's own image)."""
    ignore = "*\n!pyproject.toml\n!devd/\n**/__pycache__\n"
    context = listing("pyproject.toml", "devd/cli.py", "devd/sub/x.py", "Dockerfile")
    assert check_root_only_patterns(make_view(GOOD, ignore), ignore, context) == []


def test_a_root_name_that_also_exists_below_the_root_slips_through() -> None:
    ignore = ".git\n"
    context = listing("app/main.py", "vendor/lib/.git/HEAD")  # a vendored checkout
    [finding] = check_root_only_patterns(make_view(GOOD, ignore), ignore, context)
    assert (finding.level, finding.paths) == ("warning", ("vendor/lib/.git/HEAD",))


def test_a_usually_anywhere_name_that_nothing_slips_past_yet_is_an_info() -> None:
    ignore = "node_modules\n"
    [finding] = check_root_only_patterns(make_view(GOOD, ignore), ignore, listing("app.js"))
    assert (finding.level, finding.line) == ("info", 1)
    assert finding.fix == "write `**/node_modules` (matches at any depth)"


def test_context_size_lists_the_largest_entries() -> None:
    context = ContextListing(
        (ContextFile("app/a.py", 3000), ContextFile("app/b.py", 2000), ContextFile("README", 10))
    )
    [finding] = check_context_size(make_view(GOOD, context="svc"), context)
    assert (finding.check, finding.level, finding.file) == ("context-size", "info", "svc")
    assert finding.message == (
        "build context svc/: 3 files, 5.0 kB; largest: app/ 5.0 kB, README 10 B"
    )


def test_a_large_or_truncated_context_is_a_warning() -> None:
    large = ContextListing((ContextFile("data/dump.bin", LARGE_CONTEXT),))
    assert check_context_size(make_view(GOOD), large)[0].level == "warning"
    truncated = ContextListing((ContextFile("a", 1),), truncated=True)
    [finding] = check_context_size(make_view(GOOD), truncated)
    assert finding.level == "warning"
    assert "more than 1 file (the walk stopped there)" in finding.message


# --- the image's layers ---------------------------------------------------------------------

HISTORY = (
    Layer("/bin/sh -c #(nop)  LABEL devd.service=app", 0),
    Layer("/bin/sh -c #(nop)  LABEL devd.project=shop", 0),
    Layer('/bin/sh -c #(nop)  CMD ["python" "-m" "app"]', 0),
    Layer("/bin/sh -c #(nop) COPY dir:2936 in . ", 1_700),
    Layer("/bin/sh -c pip install --no-cache-dir -r requirements.txt", 40_000_000),
    Layer("/bin/sh -c #(nop) COPY file:7064 in . ", 163),
    Layer("/bin/sh -c #(nop) WORKDIR /app", 0),
    Layer("", 120_000_000),
)


def test_layer_sizes_are_mapped_to_dockerfile_lines() -> None:
    [finding] = check_layers(make_view(GOOD), ImageFacts("devd-shop-app:latest", HISTORY))
    assert (finding.check, finding.level) == ("image-layers", "info")
    assert finding.message == (
        "image devd-shop-app:latest: 160.0 MB in 8 layers; largest: "
        "Dockerfile:1 `FROM python:3.12-slim` (the base image) 120.0 MB; "
        "Dockerfile:4 `RUN pip install --no-cache-dir -r requirements.txt` 40.0 MB; "
        "Dockerfile:5 `COPY . .` 1.7 kB; Dockerfile:3 `COPY requirements.txt .` 163 B"
    )


def test_a_history_that_does_not_line_up_is_shown_as_docker_history_prints_it() -> None:
    history = (Layer("/bin/sh -c #(nop) COPY file:1 in / ", 2_000), Layer("", 5_000))
    [finding] = check_layers(make_view(GOOD), ImageFacts("x:latest", history))
    assert "largest: `(base)` 5.0 kB; `COPY file:1 in /` 2.0 kB" in finding.message


def test_no_image_yet_says_to_build_first() -> None:
    [finding] = check_layers(make_view(GOOD), ImageFacts("devd-shop-app:latest", None))
    assert (finding.check, finding.level) == ("image-not-built", "info")
    assert "no image devd-shop-app:latest yet" in finding.message
    assert "devd build" in finding.fix
    assert check_layers(make_view(GOOD), None) == []


# --- single-line hazards ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("python", "base-unpinned"),
        ("python:latest", "base-unpinned"),
        ("registry.local:5000/team/app", "base-unpinned"),
        ("python:3", "base-floating"),
        ("node:lts-alpine", "base-floating"),
        ("node:20-slim", "base-floating"),
        ("python:3.11-slim", None),
        ("registry.local:5000/team/app:1.4.2", None),
        ("python@sha256:" + "a" * 64, None),
        ("scratch", None),
    ],
)
def test_base_image_tags(base: str, expected: str | None) -> None:
    findings = check_base_images(make_view(f"FROM {base}\nCMD x\n"))
    assert [f.check for f in findings] == ([expected] if expected else [])
    if findings:
        assert findings[0].line == 1


def test_a_stage_built_on_another_stage_is_not_a_base_image() -> None:
    view = make_view("FROM python:3.12-slim AS base\nRUN true\nFROM base\nCMD x\n")
    assert check_base_images(view) == []


def test_apt_get_update_in_a_run_of_its_own_is_a_warning() -> None:
    view = make_view("FROM debian:12\nRUN apt-get update\nRUN apt-get install -y curl\n")
    [finding] = check_apt(view)
    assert (finding.check, finding.level, finding.line) == ("apt-update-alone", "warning", 2)
    assert "update and install in one RUN" in finding.fix


def test_apt_update_and_install_together_with_cleanup_are_fine() -> None:
    assert check_apt(make_view(SEED_DOCKERFILE)) == []
    assert check_apt(make_view("FROM alpine:3.19\nRUN apk add --no-cache curl\n")) == []


def test_apt_lists_left_in_the_layer_are_an_info() -> None:
    view = make_view("FROM debian:12\nRUN apt-get update && apt-get install -y curl\n")
    assert checks(check_apt(view)) == {"apt-lists-kept": "info"}


def test_pip_cache_kept_in_the_layer_is_an_info() -> None:
    [finding] = check_pip_cache(make_view(SEED_DOCKERFILE))
    assert (finding.check, finding.level, finding.line) == ("pip-cache", "info", 11)


def test_pip_without_cache_is_fine() -> None:
    assert check_pip_cache(make_view(GOOD)) == []
    env = "FROM python:3.12-slim\nENV PIP_NO_CACHE_DIR=1\nRUN pip install flask\n"
    assert check_pip_cache(make_view(env)) == []


@pytest.mark.parametrize(
    ("command", "moving"),
    [
        ("git clone https://github.com/x/y /y", True),
        ("curl -fsSL https://github.com/x/y/releases/latest/download/y -o /y", True),
        ("wget https://raw.githubusercontent.com/x/y/master/install.sh", True),
        ("git clone --branch v1.2.0 https://github.com/x/y /y", False),
        ("curl -fsSL https://github.com/x/y/releases/download/v1.2.0/y -o /y", False),
    ],
)
def test_downloads_of_moving_targets(command: str, moving: bool) -> None:
    findings = check_fetches(make_view(f"FROM debian:12\nRUN {command}\n"))
    assert [f.check for f in findings] == (["fetch-unpinned"] if moving else [])


def test_dockerfile_no_cache_setting_is_an_info() -> None:
    [finding] = check_no_cache_config(True, "devd.toml")
    assert (finding.check, finding.level, finding.file) == ("no-cache-config", "info", "devd.toml")
    assert check_no_cache_config(False, "devd.toml") == []


# --- diagnose, output ---------------------------------------------------------------------------


def test_diagnose_labels_findings_with_the_service_and_puts_warnings_first() -> None:
    facts = ServiceFacts(
        view=make_view("FROM python\nCOPY . /app\nRUN pip install -r /app/r.txt\n"),
        ignore_text=None,
        context=listing("r.txt", "Dockerfile"),
    )
    findings = diagnose(facts)
    assert {f.service for f in findings} == {"app"}
    levels = [f.level for f in findings]
    assert levels == sorted(levels, key=lambda level: level != "warning")
    assert warnings(findings) == {"order-code-before-install", "ignore-missing", "base-unpinned"}
    assert exit_code(findings) == 1
    assert exit_code([f for f in findings if f.level == "info"]) == 0


def test_render_and_json() -> None:
    finding = Finding(
        check="pip-cache",
        level="info",
        file="Dockerfile",
        line=4,
        message="m",
        cost="c",
        fix="f",
        paths=("a", "b"),
        service="app",
    )
    text = render([finding])
    assert text.splitlines() == [
        "info: Dockerfile:4 [app] (pip-cache)",
        "  m",
        "  cost: c",
        "  fix:  f",
        "  e.g.  a, b",
        "",
        "0 warnings, 1 info",
    ]
    assert render([]) == "devd doctor: no findings\n"
    [data] = json.loads(to_json([finding]))
    assert data == {
        "check": "pip-cache",
        "level": "info",
        "file": "Dockerfile",
        "line": 4,
        "message": "m",
        "cost": "c",
        "fix": "f",
        "paths": ["a", "b"],
        "service": "app",
    }


def test_human_size_uses_docker_units() -> None:
    assert [human_size(n) for n in (0, 999, 1_000, 1_700, 289_297_139, 2 * 10**9)] == [
        "0 B", "999 B", "1.0 kB", "1.7 kB", "289.3 MB", "2.0 GB",
    ]  # fmt: skip


# --- the context walk -----------------------------------------------------------------------


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def test_walk_lists_what_the_engine_receives_with_sizes(tmp_path: Path) -> None:
    root = write(
        tmp_path / "ctx",
        {
            "Dockerfile": "FROM x\n",
            "app/main.py": "print(1)\n",
            "app/__pycache__/main.pyc": b"\0" * 50,
            ".git/HEAD": "ref\n",
            "docs/readme.md": "x",
        },
    )
    patterns = ["**/__pycache__", ".git", "docs", "Dockerfile"]
    result = walk_context(root, patterns, root / "Dockerfile")
    assert not result.truncated
    assert sorted((f.path, f.size) for f in result.files) == [
        ("Dockerfile", 7),  # always sent, even when a pattern excludes it
        ("app/main.py", 9),
    ]


def test_walk_does_not_follow_symlinks_and_stops_at_its_limit(tmp_path: Path) -> None:
    outside = write(tmp_path / "outside", {f"f{i}": "x" for i in range(5)})
    root = write(tmp_path / "ctx", {"Dockerfile": "FROM x\n", "a": "1", "b": "2"})
    os.symlink(outside, root / "linked")
    listed = walk_context(root, [], root / "Dockerfile")
    assert sorted(f.path for f in listed.files) == ["Dockerfile", "a", "b"]
    stopped = walk_context(root, [], root / "Dockerfile", limit=2)
    assert stopped.truncated
    assert len(stopped.files) <= 2


# --- the whole doctor on projects -------------------------------------------------------------


@pytest.fixture
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state"


def seed_project(root: Path, extra: dict[str, str | bytes] | None = None) -> Path:
    return write(
        root,
        {
            "Dockerfile": SEED_DOCKERFILE,
            "requirements.txt": "aiogram==3.4.1\n",
            "main.py": "from wpg_engine import run\nrun()\n",
            "wpg_engine/__init__.py": "def run() -> None: ...\n",
            **(extra or {}),
        },
    )


def test_doctor_on_the_seed_guides_example(tmp_path: Path, state_home: Path) -> None:
    """The seed's Dockerfile has the guide's good order and a pinned minor base, so neither is
    flagged; with no .dockerignore next to `COPY . .` that is the one warning. Its pip install
    keeps pip's cache (an info)."""
    root = seed_project(tmp_path / "wpg")
    findings = run_doctor(config.load(root, environ={}), None, [])
    assert warnings(findings) == {"ignore-missing"}
    assert checks(findings) == {
        "ignore-missing": "warning",
        "pip-cache": "info",
        "context-size": "info",
        "image-not-built": "info",
    }
    missing = next(f for f in findings if f.check == "ignore-missing")
    assert "`COPY . .` (Dockerfile line 13)" in missing.cost
    assert exit_code(findings) == 1


def test_doctor_on_the_seed_example_in_a_working_tree_then_after_the_fix(
    tmp_path: Path, state_home: Path
) -> None:
    """A real working tree (git metadata, a virtualenv, bytecode, the bot token in .env) is
    flagged item by item; the .dockerignore the doctor suggests clears every warning."""
    tree: dict[str, str | bytes] = {
        ".env": "BOT_TOKEN=123:abc\n",
        ".git/HEAD": "ref: refs/heads/main\n",
        ".venv/pyvenv.cfg": "home = /usr/bin\n",
        ".venv/lib/python3.11/site-packages/aiogram/__init__.py": "x" * 5000,
        "__pycache__/main.cpython-311.pyc": b"\0" * 300,
        "wpg_engine/__pycache__/__init__.cpython-311.pyc": b"\0" * 300,
    }
    root = seed_project(tmp_path / "wpg", tree)
    project = config.load(root, environ={})
    findings = run_doctor(project, None, [])
    assert warnings(findings) == {
        "ignore-missing",
        "context-secrets",
        "context-vcs",
        "context-virtualenv",
        "context-bytecode",
    }
    secrets = next(f for f in findings if f.check == "context-secrets")
    assert secrets.paths == (".env",)
    bytecode = next(f for f in findings if f.check == "context-bytecode")
    assert "**/__pycache__" in bytecode.fix.split()

    fix = next(f for f in findings if f.check == "ignore-missing").fix
    patterns = fix.split(": ", 1)[1].split()
    (root / ".dockerignore").write_text("\n".join(patterns) + "\n")
    after = run_doctor(project, None, [])
    assert warnings(after) == set()
    assert checks(after) == {"pip-cache": "info", "context-size": "info", "image-not-built": "info"}


def test_doctor_on_the_bundled_example_has_only_infos(
    state_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEVD_SERVICES__APP__BUILD_ARGS", raising=False)
    findings = run_doctor(config.load(EXAMPLE, environ={}), None, [])
    assert warnings(findings) == set()
    assert checks(findings) == {"context-size": "info", "image-not-built": "info"}
    assert exit_code(findings) == 0


def test_doctor_reads_the_recorded_cycles(tmp_path: Path, state_home: Path) -> None:
    root = seed_project(tmp_path / "wpg", {".dockerignore": ".git\n"})
    project = config.load(root, environ={})
    record = BuildRecord(state_dir(project.name, project.root))
    for _ in range(4):
        record.record_cycle("app", "dependency", ["requirements.txt"])
    record.record_cycle("app", "code", ["main.py"])
    [churn] = [f for f in run_doctor(project, None, ["app"]) if f.check == "manifest-churn"]
    assert churn.file == "requirements.txt"
    assert "line 11 `RUN pip install -r requirements.txt`" in churn.cost


def test_doctor_refuses_an_unknown_service(tmp_path: Path, state_home: Path) -> None:
    project = config.load(seed_project(tmp_path / "wpg"), environ={})
    with pytest.raises(ConfigError, match="no service 'web'"):
        run_doctor(project, None, ["web"])


@pytest.mark.engine
@pytest.mark.parametrize("builder", ["classic", "buildkit"])
def test_layer_sizes_of_a_real_busybox_build(
    builder: Builder,
    tmp_path: Path,
    engine: Engine,
    busybox_image: str,
    image_tag: str,  # removes what the test built (by its label) afterwards
    test_id: str,
    test_labels: dict[str, str],
    state_home: Path,
) -> None:
    root = write(
        tmp_path / "tiny",
        {
            "devd.toml": f'project = "t{test_id}"\n',
            ".dockerignore": "devd.toml\n",
            "Dockerfile": (
                f"FROM {busybox_image}\nCOPY blob.bin /blob.bin\nRUN echo hi > /hi.txt\n"
            ),
            "blob.bin": os.urandom(300_000),
        },
    )
    project = config.load(root, environ={})
    before = run_doctor(project, engine, [])
    [missing] = [f for f in before if f.check == "image-not-built"]
    assert f"no image {devd_image_tag(project.name, 'app')} yet" in missing.message

    service = project.services["app"]
    with build_context(
        service.context, service.dockerfile, ["devd.toml"], ignore_file=builder == "classic"
    ) as context:
        engine.builds.build(
            context,
            tag=devd_image_tag(project.name, "app"),
            labels={**owner_labels(project.name, "app"), **test_labels},
            build_args={},
            target=None,
            no_cache=False,
            builder=builder,
        )
    findings = run_doctor(project, engine, [])
    [layers] = [f for f in findings if f.check == "image-layers"]
    assert "Dockerfile:2 `COPY blob.bin /blob.bin` 300.0 kB" in layers.message
    assert f"Dockerfile:1 `FROM {busybox_image}` (the base image)" in layers.message
    assert "image-not-built" not in checks(findings)
    assert warnings(findings) == {"base-unpinned"}  # the local base is tagged :latest


def test_image_only_compose_service_is_not_diagnosed(tmp_path: Path, state_home: Path) -> None:
    """A compose service started from an image has no build of devd's: the doctor checks only
    the built services (no findings about a Dockerfile the image-only service never uses)."""
    (tmp_path / "Dockerfile").write_text("FROM busybox:1.36\nCOPY . /app\n")
    (tmp_path / ".dockerignore").write_text(".git\n")
    (tmp_path / "compose.yaml").write_text(
        "services:\n  web:\n    build: .\n  db:\n    image: postgres:16\n"
    )
    findings = run_doctor(config.load(tmp_path, environ={}), None, [])
    assert findings
    assert {finding.service for finding in findings} == {"web"}
