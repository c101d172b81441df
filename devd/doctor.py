"""``devd doctor``: why builds are slow or stale, each finding with where, its cost and the fix.

The seed guide's troubleshooting list, automated: instruction order that defeats the cache, a
dependency manifest that changes on nearly every build, a missing or leaky ``.dockerignore``,
secrets in the build context, ignore patterns that match only at the context root, the size of
the context and of the image's layers, and single-line cache hazards (``apt-get update`` alone,
floating base tags, downloads of moving targets).

The checks are pure: they take plain data (the service's BuildView with the parsed Dockerfile
and ignore rules, the ignore file's text, the files the context sends with their sizes, the
recorded cycles, the image's layer history) and return Finding values. ``gather`` and
``run_doctor`` at the end are the thin adapter that reads that data from disk and the engine;
``render`` prints findings for a person, ``Finding.as_dict`` for ``--json``.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import stat
import textwrap
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from itertools import islice
from pathlib import Path
from typing import Any, Literal

import docker.errors
import requests.exceptions
from docker.utils.build import Pattern, walk

from devd.classify import BuildView, Kind, classify
from devd.config import ProjectConfig, ServiceConfig
from devd.copy_sources import reads
from devd.daemon import image_tag
from devd.dockerfile import Stage, Step
from devd.engine import Engine
from devd.errors import ConfigError, DockerfileError, one_line
from devd.ignore import IgnoreRules
from devd.project import build_view, ignore_file, relative
from devd.state import BuildRecord, Cycle, state_dir

Level = Literal["warning", "info"]

WALK_LIMIT = 100_000
"""Entries (files and directories) the context walk looks at before it stops."""
LARGE_CONTEXT = 100_000_000
"""A context at least this large (bytes) is a warning: it is packed and sent on every build."""
LARGE_JUNK = 10_000_000
"""Unwanted context entries at least this large are a warning even when no COPY reads them."""
CHURN_WINDOW = 20
"""How many recent change-triggered cycles the manifest-churn check looks at."""
CHURN_MIN = 3
"""Dependency rebuilds (and at least half the window) that make a manifest suspicious."""
EXAMPLES = 5
"""Paths (or entries) a finding shows."""


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One diagnosis: what is wrong (``message``), what it costs the developer, the fix."""

    check: str
    level: Level
    file: str  # project-relative
    line: int | None = None
    message: str
    cost: str
    fix: str
    paths: tuple[str, ...] = ()  # examples, project-relative
    service: str | None = None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {key: getattr(self, key) for key in self.__dataclass_fields__}
        data["paths"] = list(self.paths)
        return data


@dataclass(frozen=True)
class ContextFile:
    """A regular file the build context sends: context-relative path and size in bytes."""

    path: str
    size: int


@dataclass(frozen=True)
class ContextListing:
    """The files the context sends; ``truncated`` when the walk stopped at its limit,
    ``error`` when a directory could not be read."""

    files: tuple[ContextFile, ...]
    truncated: bool = False
    error: str | None = None

    @property
    def size(self) -> int:
        return sum(file.size for file in self.files)


@dataclass(frozen=True)
class Layer:
    """One entry of ``docker history``: the instruction that made it and its size."""

    created_by: str
    size: int


@dataclass(frozen=True)
class ImageFacts:
    """The image devd builds for the service: ``layers`` newest first as ``docker history``
    lists them; ``None`` when there is no such image (or ``problem`` says why not read)."""

    tag: str
    layers: tuple[Layer, ...] | None
    problem: str | None = None


@dataclass(frozen=True)
class ServiceFacts:
    """Everything the checks look at for one service."""

    view: BuildView
    ignore_text: str | None  # None: no ignore file applies
    context: ContextListing
    cycles: tuple[Cycle, ...] = ()
    image: ImageFacts | None = None
    dockerfile_no_cache: bool = False
    config_source: str = "devd.toml"


def diagnose(facts: ServiceFacts) -> list[Finding]:
    """Every check on one service's facts, each finding labelled with the service."""
    view, context = facts.view, facts.context
    findings = [
        *check_instruction_order(view),
        *check_manifest_churn(view, facts.cycles),
        *check_ignore_file(view, facts.ignore_text, context),
        *check_context_contents(view, facts.ignore_text is not None, context),
        *check_secrets(view, facts.ignore_text is not None, context),
        *check_root_only_patterns(view, facts.ignore_text, context),
        *check_context_size(view, context),
        *check_layers(view, facts.image),
        *check_base_images(view),
        *check_apt(view),
        *check_pip_cache(view),
        *check_fetches(view),
        *check_no_cache_config(facts.dockerfile_no_cache, facts.config_source),
    ]
    return sort_findings(replace(finding, service=view.service) for finding in findings)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Warnings first, then by service, file and line."""
    return sorted(
        findings,
        key=lambda f: (f.level != "warning", f.service or "", f.file, f.line or 0, f.check),
    )


def exit_code(findings: Iterable[Finding]) -> int:
    """1 when any finding is a warning (``devd doctor`` guards CI), else 0."""
    return 1 if any(finding.level == "warning" for finding in findings) else 0


def to_json(findings: Iterable[Finding]) -> str:
    return json.dumps([finding.as_dict() for finding in findings], indent=2)


# --- instruction order --------------------------------------------------------------------

_INSTALL = re.compile(
    r"""\b(?:pip3?|python3?\s+-m\s+pip|uv\s+pip)\s+install\b
    | \buv\s+sync\b | \b(?:poetry|pipenv|pdm)\s+(?:install|sync)\b
    | \bnpm\s+(?:install|ci|i)\b | \bpnpm\s+(?:install|i)\b
    | \byarn(?:\s+install)?\s*(?:$|&&|;|\|)
    | \bbundle\s+install\b | \bgo\s+mod\s+download\b | \bcomposer\s+install\b
    | \bapt(?:-get)?\s+(?:-\S+\s+)*install\b | \bapk\s+add\b
    | \b(?:yum|dnf|microdnf)\s+(?:-\S+\s+)*install\b""",
    re.VERBOSE,
)
MANIFESTS = (
    "requirements*.txt", "requirements*.in", "constraints*.txt", "pyproject.toml", "setup.py",
    "setup.cfg", "poetry.lock", "Pipfile", "Pipfile.lock", "pdm.lock", "uv.lock",
    "package.json", "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml",
    ".npmrc", ".yarnrc*", "go.mod", "go.sum", "Gemfile", "Gemfile.lock", "Cargo.toml",
    "Cargo.lock", "composer.json", "composer.lock", "pom.xml", "build.gradle*", "*.csproj",
)  # fmt: skip
_TOOL_MANIFESTS = (
    (re.compile(r"\bpoetry\b"), "pyproject.toml poetry.lock"),
    (re.compile(r"\bpipenv\b"), "Pipfile Pipfile.lock"),
    (re.compile(r"\buv\s+sync\b"), "pyproject.toml uv.lock"),
    (re.compile(r"\bnpm\b"), "package.json package-lock.json"),
    (re.compile(r"\byarn\b"), "package.json yarn.lock"),
    (re.compile(r"\bpnpm\b"), "package.json pnpm-lock.yaml"),
    (re.compile(r"\bbundle\b"), "Gemfile Gemfile.lock"),
    (re.compile(r"\bgo\s+mod\b"), "go.mod go.sum"),
    (re.compile(r"\bcomposer\b"), "composer.json composer.lock"),
)


def check_instruction_order(view: BuildView) -> list[Finding]:
    """Code (anything but dependency manifests) copied before a RUN that installs packages:
    every save of a copied file re-runs the install. Whole-context copies followed by any
    other RUN get an info (each save re-runs that command)."""
    findings: list[Finding] = []
    for stage in view.dockerfile.needed_stages(view.target):
        findings.extend(_order_in_stage(view.dockerfile_path, stage))
    return findings


def _order_in_stage(dockerfile: str, stage: Stage) -> list[Finding]:
    findings: list[Finding] = []
    reported: set[int] = set()
    for position, step in enumerate(stage.steps):
        if not _installs(step):
            continue
        copy = next((s for s in stage.steps[:position] if _copies_code(s)), None)
        if copy is not None and copy.instruction.line not in reported:
            reported.add(copy.instruction.line)
            findings.append(_order_finding(dockerfile, copy, step))
    for position, step in enumerate(stage.steps):
        if not _copies_whole_context(step) or step.instruction.line in reported:
            continue
        run = next((s for s in stage.steps[position + 1 :] if s.keyword == "RUN"), None)
        if run is not None:
            findings.append(_run_after_copy_finding(dockerfile, step, run))
    return findings


def _installs(step: Step) -> bool:
    text = step.instruction.text
    return step.keyword == "RUN" and bool(_INSTALL.search(text)) and "--no-deps" not in text


def _copies_code(step: Step) -> bool:
    return step.keyword in ("COPY", "ADD") and any(
        not _is_manifest(source.pattern) for source in step.sources
    )


def _copies_whole_context(step: Step) -> bool:
    return step.keyword in ("COPY", "ADD") and any(s.pattern == "" for s in step.sources)


def _is_manifest(pattern: str) -> bool:
    if pattern == "":
        return False
    parts = pattern.split("/")
    return parts[0].startswith("requirements") or any(
        fnmatchcase(parts[-1], manifest) for manifest in MANIFESTS
    )


def _order_finding(dockerfile: str, copy: Step, install: Step) -> Finding:
    what = "the whole context" if _copies_whole_context(copy) else "files other than manifests"
    hint = _manifest_hint(install.instruction.text)
    if _installs_project(install.instruction.text):
        fix = (
            "install the dependencies first from files that change rarely (`COPY "
            "requirements.txt ./` or a lock file, then the install), then copy the code and "
            "install the project itself with `pip install --no-deps`"
        )
    elif hint is not None:
        fix = (
            f"copy only what the install reads first (`COPY {hint} ./`), run "
            f"{_quote(install)}, then {_quote(copy)} after it"
        )
    else:
        fix = (
            f"move {_quote(install)} above {_quote(copy)} (it does not need the code), or copy "
            "only the files it reads before it"
        )
    return Finding(
        check="order-code-before-install",
        level="warning",
        file=dockerfile,
        line=copy.instruction.line,
        message=(
            f"{_quote(copy)} copies {what} before {_quote(install)} "
            f"(line {install.instruction.line})"
        ),
        cost=(
            "every save of a copied file busts the copy and re-runs the install (devd sees a "
            "dependency change): a full package install per save instead of a cached copy"
        ),
        fix=fix,
    )


def _run_after_copy_finding(dockerfile: str, copy: Step, run: Step) -> Finding:
    return Finding(
        check="run-after-code-copy",
        level="info",
        file=dockerfile,
        line=run.instruction.line,
        message=f"{_quote(run)} comes after {_quote(copy)} (line {copy.instruction.line})",
        cost="every save of any file in the context re-runs it",
        fix="fine if it must see the code (a build step); otherwise move it above the copy",
    )


def _manifest_hint(text: str) -> str | None:
    """The manifests an install command reads: named in it, else its tool's usual ones."""
    named = [
        word
        for word in text.split()
        if any(fnmatchcase(posixpath.basename(word), m) for m in MANIFESTS)
    ]
    if named:
        return " ".join(dict.fromkeys(named))
    for tool, manifests in _TOOL_MANIFESTS:
        if tool.search(text):
            return manifests
    return None


def _installs_project(text: str) -> bool:
    """Whether a pip install installs a local project (a path: ``.``, ``/src``, ``-e .``)."""
    return bool(re.search(r"\bpip3?\s+install\s+(?:-\S+\s+)*[./]\S*(?:\s|$)", text))


# --- manifest churn -----------------------------------------------------------------------


def check_manifest_churn(view: BuildView, cycles: Sequence[Cycle]) -> list[Finding]:
    """Dependency rebuilds in at least half of the recent cycles (and at least CHURN_MIN)."""
    recent = [c for c in cycles if c.kind in ("code", "dependency", "dockerfile")]
    recent = recent[-CHURN_WINDOW:]
    dependency = [c for c in recent if c.kind == "dependency"]
    if len(dependency) < CHURN_MIN or 2 * len(dependency) < len(recent):
        return []
    counts = Counter(path for cycle in dependency for path in set(cycle.paths))
    if not counts:
        return []
    top = counts.most_common(EXAMPLES)
    path, times = top[0]
    others = ", ".join(f"{p} ({n})" for p, n in top[1:])
    current = classify(path, view)
    reruns = (
        f"re-runs Dockerfile line {current.run_line} `{current.run_instruction}`"
        if current.kind is Kind.DEPENDENCY
        else "re-ran the install step"
    )
    if _is_manifest(path):
        fix = (
            f"find what rewrites {path} on every save (a `pip freeze > {posixpath.basename(path)}`"
            " hook, a generator writing timestamps or unsorted output, a formatter) and write it "
            "only when the dependencies change"
        )
    else:
        fix = (
            f"{path} is not a dependency manifest: it counts as one because the Dockerfile "
            "copies it before an install step; copy it after the install"
        )
    return [
        Finding(
            check="manifest-churn",
            level="warning",
            file=path,
            message=(
                f"{len(dependency)} of the last {len(recent)} rebuilds were dependency rebuilds; "
                f"{path} triggered {times} of them" + (f" (also: {others})" if others else "")
            ),
            cost=f"each one {reruns} instead of using the cache",
            fix=fix,
            paths=tuple(p for p, _ in top),
        )
    ]


# --- the ignore file and what the context sends ---------------------------------------------


@dataclass(frozen=True)
class _Category:
    """A kind of entry that does not belong in a build context."""

    check: str
    what: str
    churn: str  # why it changes, or what it holds
    dirs: tuple[str, ...] = ()  # directory names, at any depth
    root_dirs: tuple[str, ...] = ()  # directory names, at the context root only
    files: tuple[str, ...] = ()  # file name globs, at any depth
    marker: str | None = None  # a file whose directory is such an entry


_CATEGORIES = (
    _Category(
        "context-vcs", "version-control metadata",
        "every commit, checkout or fetch rewrites it", dirs=(".git", ".hg", ".svn", ".bzr"),
    ),
    _Category(
        "context-virtualenv", "virtualenvs",
        "host-built packages that do not belong in the image, often hundreds of MB",
        dirs=(".venv", ".virtualenv"), root_dirs=("venv",), marker="pyvenv.cfg",
    ),
    _Category(
        "context-bytecode", "Python bytecode caches",
        "Python rewrites them whenever code runs on the host",
        dirs=("__pycache__",), files=("*.pyc", "*.pyo"),
    ),
    _Category(
        "context-node-modules", "node_modules",
        "host-installed packages, often hundreds of MB, native parts built for the host",
        dirs=("node_modules",),
    ),
    _Category(
        "context-build-output", "build outputs and tool caches",
        "every local build, test or lint run rewrites them",
        dirs=(".tox", ".nox", ".eggs", "htmlcov", ".pytest_cache", ".mypy_cache",
              ".ruff_cache", "*.egg-info"),
        root_dirs=("dist", "build"), files=(".coverage",),
    ),
    _Category(
        "context-database", "local databases",
        "they change whenever the app runs locally, and may hold real data",
        files=("*.sqlite", "*.sqlite3", "*.db", "*.db-journal", "dump.rdb"),
    ),
)  # fmt: skip

_SECRET_FILES = (
    ".env", ".env.*", "*.pem", "*.key", "*.p12", "*.pfx", "*.jks", "*.keystore", "*.kdbx",
    "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", ".npmrc", ".pypirc", ".netrc",
    ".git-credentials", ".htpasswd", "credentials", "*credentials*.json", "service-account*.json",
    "secrets.json", "secrets.yaml", "secrets.yml", "secrets.toml",
)  # fmt: skip
_SECRET_DIRS = (".ssh", ".aws", ".gnupg")
_NOT_SECRET = (".env.example", ".env.sample", ".env.template", ".env.dist", ".env.defaults")
_BASIC_PATTERNS = (".git", ".venv", "**/__pycache__", "**/*.py[cod]", ".env")


@dataclass(frozen=True)
class _Hits:
    """Entries (a directory or a file, context-relative) and the files under each."""

    entries: dict[str, list[ContextFile]]

    @property
    def files(self) -> list[ContextFile]:
        return [file for files in self.entries.values() for file in files]

    @property
    def size(self) -> int:
        return sum(file.size for file in self.files)

    def largest(self) -> list[str]:
        ranked = sorted(self.entries, key=lambda e: -sum(f.size for f in self.entries[e]))
        return ranked[:EXAMPLES]


def check_ignore_file(
    view: BuildView, ignore_text: str | None, context: ContextListing
) -> list[Finding]:
    """No ignore file applies: a warning when the whole context is copied or the context holds
    something that should be excluded, else an info."""
    if ignore_text is not None:
        return []
    copy = _whole_context_copy(view)
    hits = [_category_hits(c, context) for c in _CATEGORIES] + [_secret_hits(context)]
    unwanted = any(h.entries for h in hits)
    patterns = [*_BASIC_PATTERNS, *(p for h in hits for p in _suggestions(h))]
    if copy is not None:
        cost = (
            f"{_quote(copy)} (Dockerfile line {copy.instruction.line}) copies all of it into the "
            "image: any file that changes (.git on each commit, bytecode, local data) busts that "
            "step and every step after it"
        )
    else:
        cost = (
            "slower builds as the tree grows, and nothing keeps a later `COPY . .` from copying "
            ".git, virtualenvs or .env into the image"
        )
    return [
        Finding(
            check="ignore-missing",
            level="warning" if copy is not None or unwanted else "info",
            file=view.ignore_file,
            message=(
                f"no {posixpath.basename(view.ignore_file)}: the whole context "
                f"({_files(len(context.files))}, {human_size(context.size)}) is sent to the "
                "engine on every build"
            ),
            cost=cost,
            fix=f"create {view.ignore_file} with: " + " ".join(dict.fromkeys(patterns)),
        )
    ]


def check_context_contents(
    view: BuildView, has_ignore_file: bool, context: ContextListing
) -> list[Finding]:
    """VCS metadata, virtualenvs, bytecode, node_modules, build outputs, local databases that
    the context sends. A warning when a COPY puts them into the image or they are large."""
    findings = []
    for category in _CATEGORIES:
        hits = _category_hits(category, context)
        if hits.entries:
            findings.append(_contents_finding(view, has_ignore_file, category, hits))
    return findings


def _contents_finding(
    view: BuildView, has_ignore_file: bool, category: _Category, hits: _Hits
) -> Finding:
    copy = _first_copy(view, hits.files)
    if copy is not None:
        cost = (
            f"sent to the engine on every build ({human_size(hits.size)}), and {_quote(copy)} "
            f"(line {copy.instruction.line}) copies them into the image: {category.churn}, "
            "which busts that step and every step after it"
        )
    else:
        cost = (
            f"sent to the engine on every build ({human_size(hits.size)}; {category.churn}); "
            "no COPY reads them, so it costs transfer time"
        )
    large = copy is not None or hits.size >= LARGE_JUNK
    return Finding(
        check=category.check,
        level="warning" if large else "info",
        file=view.ignore_file,
        message=(
            f"{category.what} in the build context: {_files(len(hits.files))}, "
            f"{human_size(hits.size)}, "
            + (f"not excluded by {view.ignore_file}" if has_ignore_file else "no ignore file")
        ),
        cost=cost,
        fix=f"add {' '.join(_suggestions(hits))} to {view.ignore_file}",
        paths=tuple(_in_project(view, entry) for entry in hits.largest()),
    )


def check_secrets(view: BuildView, has_ignore_file: bool, context: ContextListing) -> list[Finding]:
    """``.env`` files, keys, credentials files the context sends: always a warning."""
    hits = _secret_hits(context)
    if not hits.entries:
        return []
    copied = [f for f in hits.files if _copier(view, f.path) is not None]
    copy = _copier(view, copied[0].path) if copied else None
    if copy is not None:
        names = ", ".join(_in_project(view, f.path) for f in copied[:EXAMPLES])
        cost = (
            f"{_quote(copy)} (line {copy.instruction.line}) puts {names} into the image, where "
            "anyone who can pull or run it reads them (and the layer keeps them even if a "
            "later step deletes them)"
        )
    else:
        cost = (
            "sent to the engine on every build; no COPY reads them yet, but the first "
            "`COPY . .` puts them into the image"
        )
    where = f"not excluded by {view.ignore_file}" if has_ignore_file else "no ignore file"
    return [
        Finding(
            check="context-secrets",
            level="warning",
            file=view.ignore_file,
            message=f"secrets in the build context ({where}): {_files(len(hits.files))}",
            cost=cost,
            fix=(
                f"add {' '.join(_suggestions(hits))} to {view.ignore_file}; give the container "
                "its secrets at run time (env_file in devd.toml)"
            ),
            paths=tuple(_in_project(view, f.path) for f in hits.files[:EXAMPLES]),
        )
    ]


def _category_hits(category: _Category, context: ContextListing) -> _Hits:
    marked = {
        posixpath.dirname(f.path)
        for f in context.files
        if category.marker is not None and posixpath.basename(f.path) == category.marker
    }
    entries: dict[str, list[ContextFile]] = {}
    for file in context.files:
        entry = _category_entry(category, file.path, marked)
        if entry is not None:
            entries.setdefault(entry, []).append(file)
    return _Hits(entries)


def _category_entry(category: _Category, path: str, marked: set[str]) -> str | None:
    """The entry (directory or file) that makes ``path`` one of the category's, if any."""
    parts = path.split("/")
    for depth, part in enumerate(parts[:-1]):
        prefix = "/".join(parts[: depth + 1])
        if (
            prefix in marked
            or any(fnmatchcase(part, d) for d in category.dirs)
            or (depth == 0 and part in category.root_dirs)
        ):
            return prefix
    if any(fnmatchcase(parts[-1], glob) for glob in category.files):
        return path
    return None


def _secret_hits(context: ContextListing) -> _Hits:
    entries: dict[str, list[ContextFile]] = {}
    for file in context.files:
        parts = file.path.split("/")
        in_dir = next((i for i, p in enumerate(parts[:-1]) if p in _SECRET_DIRS), None)
        if in_dir is not None:
            entries.setdefault("/".join(parts[: in_dir + 1]), []).append(file)
        elif _is_secret_name(parts[-1]):
            entries.setdefault(file.path, []).append(file)
    return _Hits(entries)


def _is_secret_name(name: str) -> bool:
    if name in _NOT_SECRET or name.endswith(".pub"):
        return False
    return any(fnmatchcase(name, glob) for glob in _SECRET_FILES)


def _suggestions(hits: _Hits) -> list[str]:
    """Ignore patterns that exclude ``hits``: a root entry by its name, a nested one (or one
    whose kind turns up anywhere, like ``__pycache__``) with ``**/``."""
    patterns = []
    for entry in hits.entries:
        name = posixpath.basename(entry)
        if name.endswith((".pyc", ".pyo")):
            name = "*.py[cod]"
        elif name.endswith(".egg-info"):
            name = "*.egg-info"
        at_root = "/" not in entry and "*" not in name and name not in _USUALLY_ANYWHERE
        patterns.append(name if at_root else f"**/{name}")
    return list(dict.fromkeys(patterns))


def check_root_only_patterns(
    view: BuildView, ignore_text: str | None, context: ContextListing
) -> list[Finding]:
    """One-component patterns (``__pycache__``, ``*.pyc``) match only at the context root: a
    warning with the paths that slip through below it; an info for the names that are usually
    meant anywhere when nothing slips yet."""
    findings = []
    lines = _pattern_lines(ignore_text or "")
    patterns = [pattern for _, pattern in lines]
    for index, (line, pattern) in enumerate(lines):
        cleaned = _root_only(pattern)
        if cleaned is None:
            continue
        # The rules as meant: this pattern at any depth, the others (``!`` re-includes too) as
        # written, the Dockerfile always sent. What they exclude, the rules as written let slip.
        meant = IgnoreRules(
            [*patterns[:index], f"**/{cleaned}", *patterns[index + 1 :], *_keep_dockerfile(view)]
        )
        slips = [f.path for f in context.files if meant.excludes(f.path)]
        if slips or cleaned in _USUALLY_ANYWHERE:
            findings.append(_root_only_finding(view, line, pattern, cleaned, slips))
    return findings


_USUALLY_ANYWHERE = frozenset(
    {
        "__pycache__", "*.pyc", "*.pyo", "*.py[cod]", "*.py[co]", "node_modules", ".DS_Store",
        "*.log", "*.swp", "*~", ".pytest_cache", ".mypy_cache", ".ruff_cache", "*.egg-info",
        ".ipynb_checkpoints", "Thumbs.db",
    }
)  # fmt: skip


def _keep_dockerfile(view: BuildView) -> list[str]:
    """``!<Dockerfile>`` when it lies in the context: the engine always receives it."""
    prefix = f"{view.context}/" if view.context else ""
    inside = view.dockerfile_path.startswith(prefix) and not view.dockerfile_path.startswith("..")
    return [f"!{view.dockerfile_path[len(prefix) :]}"] if inside else []


def _pattern_lines(text: str) -> list[tuple[int, str]]:
    """(line number, pattern) of an ignore file, skipping blanks and comments as docker-py."""
    lines = ((number, raw.strip()) for number, raw in enumerate(text.splitlines(), 1))
    return [(number, line) for number, line in lines if line and not line.startswith("#")]


def _root_only(pattern: str) -> str | None:
    """The cleaned pattern when it is one component, not negated, not explicitly anchored."""
    if pattern.startswith(("!", "/")) or "**" in pattern:
        return None
    dirs = Pattern(pattern).dirs
    return dirs[0] if len(dirs) == 1 else None


def _root_only_finding(
    view: BuildView, line: int, pattern: str, cleaned: str, slips: list[str]
) -> Finding:
    message = f"`{pattern}` matches only at the context root (ignore patterns are anchored)"
    if slips:
        copy = _first_copy(view, [ContextFile(p, 0) for p in slips])
        copied = f", and {_quote(copy)} copies them into the image" if copy else ""
        return Finding(
            check="ignore-root-only",
            level="warning",
            file=view.ignore_file,
            line=line,
            message=f"{message}: {_files(len(slips))} below the root slip through",
            cost=f"they are sent to the engine on every build{copied}",
            fix=f"write `**/{cleaned}` (matches at any depth)",
            paths=tuple(_in_project(view, p) for p in slips[:EXAMPLES]),
        )
    return Finding(
        check="ignore-root-only",
        level="info",
        file=view.ignore_file,
        line=line,
        message=f"{message}; nothing below the root matches it yet",
        cost=f"none yet; the first `{cleaned}` in a subdirectory will be sent to the engine",
        fix=f"write `**/{cleaned}` (matches at any depth)",
    )


def check_context_size(view: BuildView, context: ContextListing) -> list[Finding]:
    """The context's size and its largest top-level entries (a warning when it is large)."""
    by_entry: Counter[str] = Counter()
    for file in context.files:
        head, _, rest = file.path.partition("/")
        by_entry[head + "/" if rest else head] += file.size
    largest = [entry for entry, _ in by_entry.most_common(EXAMPLES)]
    shown = ", ".join(f"{entry} {human_size(by_entry[entry])}" for entry in largest)
    count = _files(len(context.files))
    if context.truncated:
        count = f"more than {count} (the walk stopped there)"
    message = f"build context {view.context or '.'}/: {count}, {human_size(context.size)}"
    if shown:
        message += f"; largest: {shown}"
    if context.error:
        message += f"; could not read everything: {context.error}"
    large = context.truncated or context.size >= LARGE_CONTEXT
    return [
        Finding(
            check="context-size",
            level="warning" if large else "info",
            file=view.context or ".",
            message=message,
            cost=f"{human_size(context.size)} packed and sent to the engine before every build",
            fix=(
                f"exclude what the image does not need in {view.ignore_file}"
                if large
                else "nothing needed; keep it small"
            ),
        )
    ]


# --- the image's layers -------------------------------------------------------------------


def check_layers(view: BuildView, image: ImageFacts | None) -> list[Finding]:
    """What ``docker history`` shows: the image's size and its largest layers, each with its
    Dockerfile line where the history lines up with the Dockerfile; else say to build first."""
    if image is None:
        return []
    if image.layers is None:
        return [_no_layers_finding(view, image)]
    described = _describe_layers(view, image.layers)
    ranked = sorted((d for d in described if d[1] > 0), key=lambda d: -d[1])[:EXAMPLES]
    total = sum(layer.size for layer in image.layers)
    shown = "; ".join(f"{label} {human_size(size)}" for label, size in ranked)
    return [
        Finding(
            check="image-layers",
            level="info",
            file=view.dockerfile_path,
            message=(
                f"image {image.tag}: {human_size(total)} in {len(image.layers)} layers; "
                f"largest: {shown or 'none'}"
            ),
            cost=(
                "a rebuild re-creates every layer from the first busted step on: large layers "
                "above the code copy are paid once, large layers after it on every save"
            ),
            fix=(
                "nothing needed; to shrink a layer, clean up in the RUN that made it "
                "(`pip install --no-cache-dir`, `rm -rf /var/lib/apt/lists/*`)"
            ),
        )
    ]


def _no_layers_finding(view: BuildView, image: ImageFacts) -> Finding:
    if image.problem is not None:
        message = f"layer sizes of {image.tag} not read: {image.problem}"
    else:
        message = f"no image {image.tag} yet: layer sizes (what `docker history` shows) need one"
    return Finding(
        check="image-not-built",
        level="info",
        file=view.dockerfile_path,
        message=message,
        cost="none; this check is skipped",
        fix="run `devd build` (or `devd up`), then `devd doctor` again",
    )


def _describe_layers(view: BuildView, layers: Sequence[Layer]) -> list[tuple[str, int]]:
    """(label, size) per layer, or per group: the base image's layers are one entry."""
    dockerfile = view.dockerfile
    final = dockerfile.stage(view.target) if view.target else dockerfile.stages[-1]
    own = final.steps[1:]
    offset = _alignment(own, layers)
    if offset is None:
        return [(f"`{_short_history(layer.created_by)}`", layer.size) for layer in layers]
    described = [("LABEL (build labels)", layer.size) for layer in layers[:offset]]
    for index, step in enumerate(reversed(own)):
        label = f"{view.dockerfile_path}:{step.instruction.line} {_quote(step)}"
        described.append((label, layers[offset + index].size))
    base = sum(layer.size for layer in layers[offset + len(own) :])
    origin = f"{view.dockerfile_path}:{final.steps[0].instruction.line}"
    described.append((f"{origin} {_quote(final.steps[0])} (the base image)", base))
    return described


def _alignment(own: Sequence[Step], layers: Sequence[Layer]) -> int | None:
    """How many (build label) entries come before the final stage's steps in the history,
    when every step's keyword matches its entry's; None when the history does not line up."""
    keywords = [_history_keyword(layer.created_by) for layer in layers]
    for offset in range(len(layers) - len(own) + 1):
        if any(keyword != "LABEL" for keyword in keywords[:offset]):
            return None
        window = keywords[offset : offset + len(own)]
        if all(k == s.keyword for k, s in zip(window, reversed(own), strict=True)):
            return offset
    return None


def _history_keyword(created_by: str) -> str:
    text = created_by.strip()
    if "#(nop)" in text:
        words = text.split("#(nop)", 1)[1].split()
        return words[0].upper() if words else ""
    if text.endswith("# buildkit"):
        return text.split(maxsplit=1)[0].upper()
    return "RUN" if "/bin/sh -c" in text else ""


def _short_history(created_by: str) -> str:
    text = re.sub(r"^/bin/sh -c (#\(nop\)\s*)?", "", created_by.strip()) or "(base)"
    return _cut(" ".join(text.split()), 60)


# --- single-line cache hazards ----------------------------------------------------------------

_FLOATING_TAGS = frozenset(
    {"lts", "stable", "current", "rolling", "edge", "mainline", "nightly", "devel", "testing",
     "unstable", "sid", "slim", "alpine"}
)  # fmt: skip
_APT_UPDATE = re.compile(r"\bapt(?:-get)?\s+(?:-\S+\s+)*update\b")
_APT_INSTALL = re.compile(r"\bapt(?:-get)?\s+(?:-\S+\s+)*install\b")
_PIP_INSTALL = re.compile(r"\b(?:pip3?|python3?\s+-m\s+pip)\s+install\b")


def check_base_images(view: BuildView) -> list[Finding]:
    """``FROM`` without a tag or with ``:latest`` (a warning); a moving tag such as a bare
    major version or ``lts`` (an info). A pinned minor (``python:3.11-slim``) is fine."""
    findings = []
    for stage in view.dockerfile.needed_stages(view.target):
        base = stage.base
        if stage.base_stage is not None or base == "scratch" or "$" in base or "@" in base:
            continue
        name, _, tag = base.rpartition(":") if ":" in base.rsplit("/", 1)[-1] else (base, "", "")
        line = stage.steps[0].instruction.line
        if tag in ("", "latest"):
            findings.append(_unpinned_finding(view, line, base, name))
        elif re.fullmatch(r"\d+(-.*)?", tag) or tag.split("-")[0] in _FLOATING_TAGS:
            findings.append(_floating_finding(view, line, base))
    return findings


def _unpinned_finding(view: BuildView, line: int, base: str, name: str) -> Finding:
    said = (
        "has no tag (that means :latest)" if ":" not in base.rsplit("/", 1)[-1] else "uses :latest"
    )
    return Finding(
        check="base-unpinned",
        level="warning",
        file=view.dockerfile_path,
        line=line,
        message=f"`FROM {base}` {said}",
        cost=(
            "the base changes whenever a newer image is pulled: every layer rebuilds at once "
            "and two machines build different images from the same Dockerfile"
        ),
        fix=f"pin a version tag (`{name}:<version>`) or a digest (`{name}@sha256:...`)",
    )


def _floating_finding(view: BuildView, line: int, base: str) -> Finding:
    return Finding(
        check="base-floating",
        level="info",
        file=view.dockerfile_path,
        line=line,
        message=f"`FROM {base}` follows a moving tag",
        cost=(
            "a pull can bring a new major version or distribution: every layer rebuilds and "
            "the build may break"
        ),
        fix="pin at least the minor version (like `python:3.11-slim`), or a digest",
    )


def _runs(view: BuildView) -> list[tuple[Stage, Step]]:
    return [
        (stage, step)
        for stage in view.dockerfile.needed_stages(view.target)
        for step in stage.steps
        if step.keyword == "RUN"
    ]


def check_apt(view: BuildView) -> list[Finding]:
    """``apt-get update`` (or ``apk update``) in a RUN without the install (a warning); an
    apt install that leaves the package lists in the layer (an info)."""
    findings = []
    for _, step in _runs(view):
        text = step.instruction.text
        alone = (_APT_UPDATE.search(text) and not _APT_INSTALL.search(text)) or (
            re.search(r"\bapk\s+update\b", text) and not re.search(r"\bapk\s+add\b", text)
        )
        if alone:
            findings.append(_update_alone_finding(view, step))
        elif (
            _APT_UPDATE.search(text)
            and "/var/lib/apt/lists" not in text
            and "--mount=type=cache" not in text
        ):
            findings.append(_apt_lists_finding(view, step))
    return findings


def _update_alone_finding(view: BuildView, step: Step) -> Finding:
    return Finding(
        check="apt-update-alone",
        level="warning",
        file=view.dockerfile_path,
        line=step.instruction.line,
        message=f"{_quote(step)} updates the package index in a RUN of its own",
        cost=(
            "the cached layer keeps an old index: a later change to the install step installs "
            "from it (stale versions, or 'file not found' errors) until something busts this step"
        ),
        fix=(
            "update and install in one RUN: `RUN apt-get update && apt-get install -y "
            "--no-install-recommends ... && rm -rf /var/lib/apt/lists/*` "
            "(apk: `apk add --no-cache ...`)"
        ),
    )


def _apt_lists_finding(view: BuildView, step: Step) -> Finding:
    return Finding(
        check="apt-lists-kept",
        level="info",
        file=view.dockerfile_path,
        line=step.instruction.line,
        message=f"{_quote(step)} leaves the apt package lists in the layer",
        cost="tens of MB in the image that nothing uses",
        fix="end the same RUN with `&& rm -rf /var/lib/apt/lists/*`",
    )


def check_pip_cache(view: BuildView) -> list[Finding]:
    """``pip install`` that keeps pip's download cache in the layer."""
    findings = []
    for stage, step in _runs(view):
        text = step.instruction.text
        if not _PIP_INSTALL.search(text) or "--no-cache-dir" in text or "type=cache" in text:
            continue
        if any(
            s.keyword == "ENV" and "PIP_NO_CACHE_DIR" in s.instruction.text for s in stage.steps
        ):
            continue
        findings.append(
            Finding(
                check="pip-cache",
                level="info",
                file=view.dockerfile_path,
                line=step.instruction.line,
                message=f"{_quote(step)} keeps pip's download cache in the layer",
                cost="a larger image (often tens of MB) for a cache no later build uses",
                fix="add `--no-cache-dir` (or `ENV PIP_NO_CACHE_DIR=1`)",
            )
        )
    return findings


_MOVING_URL = re.compile(r"https?://\S*(?:/latest\b|/(?:master|main|HEAD)(?:/|\b))")


def check_fetches(view: BuildView) -> list[Finding]:
    """A RUN that downloads a moving target (``git clone`` without a ref, a URL to
    ``latest``/``master``): the cache keeps the first download."""
    findings = []
    for _, step in _runs(view):
        text = step.instruction.text
        clone = re.search(r"\bgit\s+clone\b", text) and not re.search(
            r"--branch\b|\s-b\s|\bgit\s+checkout\b|\bgit\s+reset\b", text
        )
        if clone or _MOVING_URL.search(text):
            findings.append(
                Finding(
                    check="fetch-unpinned",
                    level="info",
                    file=view.dockerfile_path,
                    line=step.instruction.line,
                    message=f"{_quote(step)} downloads a moving target",
                    cost=(
                        "the cache keeps the first download: upstream changes never arrive "
                        "until the RUN text changes, and machines with different caches differ"
                    ),
                    fix="pin a version or commit in the command (an ARG used in the URL)",
                )
            )
    return findings


def check_no_cache_config(no_cache: bool, source: str) -> list[Finding]:
    """``dockerfile_no_cache = true``: every Dockerfile save rebuilds everything."""
    if not no_cache:
        return []
    return [
        Finding(
            check="no-cache-config",
            level="info",
            file=source,
            message="dockerfile_no_cache = true: each Dockerfile save rebuilds every step",
            cost=(
                "every Dockerfile edit re-runs every install step (the seed guide: do not use "
                "--no-cache without need)"
            ),
            fix=(
                "leave it false: the cache already rebuilds from the changed instruction on; "
                "use `devd rebuild --no-cache` when something is strange"
            ),
        )
    ]


# --- helpers -------------------------------------------------------------------------------


def _copier(view: BuildView, path: str) -> Step | None:
    """The first COPY/ADD of the needed stages that reads context-relative ``path``."""
    for stage in view.dockerfile.needed_stages(view.target):
        for step in stage.steps:
            if step.keyword in ("COPY", "ADD") and any(reads(s, path) for s in step.sources):
                return step
    return None


def _first_copy(view: BuildView, files: Iterable[ContextFile]) -> Step | None:
    return next((s for f in files if (s := _copier(view, f.path)) is not None), None)


def _whole_context_copy(view: BuildView) -> Step | None:
    steps = (s for st in view.dockerfile.needed_stages(view.target) for s in st.steps)
    return next((step for step in steps if _copies_whole_context(step)), None)


def _in_project(view: BuildView, path: str) -> str:
    return posixpath.join(view.context, path) if view.context else path


def _quote(step: Step) -> str:
    return f"`{_cut(step.instruction.display, 70)}`"


def _cut(text: str, width: int) -> str:
    """``text``, or its first words that fit in ``width`` with ``...``."""
    if len(text) <= width:
        return text
    head = text[: width - 3]
    return (head.rsplit(" ", 1)[0] if " " in head else head) + "..."


def _files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


def human_size(size: int) -> str:
    """Decimal units, as ``docker`` prints them: ``512 B``, ``9.8 kB``, ``289.3 MB``."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def render(findings: Sequence[Finding]) -> str:
    """Findings for a person: one block each, warnings first, then a count."""
    if not findings:
        return "devd doctor: no findings\n"
    blocks = [_render_one(finding) for finding in sort_findings(findings)]
    warnings = sum(1 for f in findings if f.level == "warning")
    infos = len(findings) - warnings
    blocks.append(f"{warnings} warning{'s' * (warnings != 1)}, {infos} info{'s' * (infos != 1)}")
    return "\n\n".join(blocks) + "\n"


def _render_one(finding: Finding) -> str:
    service = f" [{finding.service}]" if finding.service else ""
    lines = [f"{finding.level}: {finding.where}{service} ({finding.check})"]
    lines.append(_wrap("", finding.message))
    lines.append(_wrap("cost: ", finding.cost))
    lines.append(_wrap("fix:  ", finding.fix))
    if finding.paths:
        lines.append(_wrap("e.g.  ", ", ".join(finding.paths)))
    return "\n".join(lines)


def _wrap(label: str, text: str) -> str:
    return textwrap.fill(
        text,
        width=100,
        initial_indent="  " + label,
        subsequent_indent="  " + " " * len(label),
        break_long_words=False,
        break_on_hyphens=False,
    )


# --- the adapter: reading the facts from disk and the engine ---------------------------------


def run_doctor(project: ProjectConfig, engine: Engine | None, services: list[str]) -> list[Finding]:
    """Diagnose ``services`` (all when empty) of ``project``; ``engine`` None skips layers.

    Raises ConfigError for an unknown service, DockerfileError for a Dockerfile or ignore file
    that cannot be read.
    """
    names = services or list(project.services)
    unknown = [name for name in names if name not in project.services]
    if unknown:
        known = ", ".join(project.services)
        raise ConfigError(
            f"no service {unknown[0]!r} in project {project.name!r} (services: {known})"
        )
    findings: list[Finding] = []
    for name in names:
        findings.extend(diagnose(gather(project, project.services[name], engine)))
    return sort_findings(findings)


def gather(
    project: ProjectConfig,
    service: ServiceConfig,
    engine: Engine | None,
    *,
    walk_limit: int = WALK_LIMIT,
) -> ServiceFacts:
    """The facts the checks need about ``service``, read now."""
    view = build_view(project, service)
    return ServiceFacts(
        view=view,
        ignore_text=_read_ignore_text(ignore_file(service)),
        context=walk_context(
            service.context, view.ignore_rules.patterns, service.dockerfile, walk_limit
        ),
        cycles=tuple(BuildRecord(state_dir(project.name, project.root)).cycles(service.name)),
        image=image_facts(engine, image_tag(project.name, service.name)),
        dockerfile_no_cache=service.dockerfile_no_cache,
        config_source=project.source,
    )


def _read_ignore_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise DockerfileError(f"{path}: cannot read ignore file: {error}") from error


def walk_context(
    context: Path, patterns: Sequence[str], dockerfile: Path, limit: int = WALK_LIMIT
) -> ContextListing:
    """The regular files the engine would receive from ``context`` under ``patterns``, with
    their sizes: docker-py's own walk (symlinks are not followed), stopped after ``limit``
    entries."""
    root = context.resolve()
    rules = list(patterns)
    placed = dockerfile.resolve()
    if placed.is_relative_to(root):
        rules.append("!" + relative(root, placed))  # the Dockerfile is always sent
    files: list[ContextFile] = []
    entries = walk(str(root), rules)
    try:
        for count, path in enumerate(islice(entries, limit + 1)):
            if count == limit:
                return ContextListing(tuple(files), truncated=True)
            status = os.lstat(root / path)
            if stat.S_ISREG(status.st_mode):
                files.append(ContextFile(path.replace(os.sep, "/"), status.st_size))
    except OSError as error:
        return ContextListing(tuple(files), error=one_line(str(error)))
    return ContextListing(tuple(files))


_ENGINE_ERRORS: tuple[type[BaseException], ...] = (
    docker.errors.DockerException,
    requests.exceptions.RequestException,
    OSError,
)


def image_facts(engine: Engine | None, tag: str) -> ImageFacts:
    """The layer history of image ``tag`` (``docker history``), if the engine has it."""
    if engine is None:
        return ImageFacts(tag, None, problem="no Docker engine to ask")
    try:
        history = engine.client.api.history(tag)
    except docker.errors.NotFound:
        return ImageFacts(tag, None)
    except _ENGINE_ERRORS as error:
        return ImageFacts(tag, None, problem=one_line(str(error)))
    return ImageFacts(tag, tuple(_layer(entry) for entry in history))


def _layer(entry: Any) -> Layer:
    size = entry.get("Size") if isinstance(entry, dict) else None
    created_by = entry.get("CreatedBy") if isinstance(entry, dict) else None
    return Layer(str(created_by or ""), size if isinstance(size, int) else 0)


__all__ = [
    "ContextFile",
    "ContextListing",
    "Finding",
    "ImageFacts",
    "Layer",
    "ServiceFacts",
    "diagnose",
    "exit_code",
    "gather",
    "image_facts",
    "render",
    "run_doctor",
    "to_json",
    "walk_context",
]
