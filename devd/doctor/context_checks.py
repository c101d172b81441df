"""Checks on the build context: a missing ignore file, what the context sends that does not
belong in it (VCS metadata, virtualenvs, bytecode, node_modules, build outputs, databases),
secrets, ignore patterns that match only at the context root, and the context's size."""

from __future__ import annotations

import posixpath
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from docker.utils.build import Pattern

from devd.core.classify import BuildView
from devd.core.ignore import IgnoreRules
from devd.doctor.env_values import secret_looking
from devd.doctor.facts import ContextFile, ContextListing, total_size
from devd.doctor.findings import EXAMPLES, Finding, Level, count_files, human_size
from devd.doctor.steps import copier, first_copy, quote, whole_context_copy

LARGE_CONTEXT = 100_000_000
"""A context at least this large (bytes) is a warning: it is packed and sent on every build."""
LARGE_JUNK = 10_000_000
"""Unwanted context entries at least this large are a warning even when no COPY reads them."""


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
_USUALLY_ANYWHERE = frozenset(
    {
        "__pycache__", "*.pyc", "*.pyo", "*.py[cod]", "*.py[co]", "node_modules", ".DS_Store",
        "*.log", "*.swp", "*~", ".pytest_cache", ".mypy_cache", ".ruff_cache", "*.egg-info",
        ".ipynb_checkpoints", "Thumbs.db",
    }
)  # fmt: skip


@dataclass(frozen=True)
class _Hits:
    """Entries (a directory or a file, context-relative) and the files under each."""

    entries: dict[str, list[ContextFile]]

    @property
    def files(self) -> list[ContextFile]:
        return [file for files in self.entries.values() for file in files]

    @property
    def size(self) -> int:
        return total_size(self.files)

    def largest(self) -> list[str]:
        ranked = sorted(self.entries, key=lambda e: -total_size(self.entries[e]))
        return ranked[:EXAMPLES]


# --- the ignore file ------------------------------------------------------------------------


def check_ignore_file(
    view: BuildView, ignore_text: str | None, context: ContextListing
) -> list[Finding]:
    """No ignore file applies: a warning when the whole context is copied or the context holds
    something that should be excluded, else an info."""
    if ignore_text is not None:
        return []
    copy = whole_context_copy(view)
    hits = [_category_hits(c, context) for c in _CATEGORIES] + [_secret_hits(context)]
    unwanted = any(h.entries for h in hits)
    patterns = [*_BASIC_PATTERNS, *(p for h in hits for p in _suggestions(h))]
    if copy is not None:
        cost = (
            f"{quote(copy)} (Dockerfile line {copy.instruction.line}) copies all of it into the "
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
                f"({count_files(len(context.files))}, {human_size(context.size)}) is sent to the "
                "engine on every build"
            ),
            cost=cost,
            fix=f"create {view.ignore_file} with: " + " ".join(dict.fromkeys(patterns)),
        )
    ]


# --- what the context sends -----------------------------------------------------------------


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
    copy = first_copy(view, hits.files)
    if copy is not None:
        cost = (
            f"sent to the engine on every build ({human_size(hits.size)}), and {quote(copy)} "
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
            f"{category.what} in the build context: {count_files(len(hits.files))}, "
            f"{human_size(hits.size)}, {_unexcluded(view, has_ignore_file)}"
        ),
        cost=cost,
        fix=f"add {' '.join(_suggestions(hits))} to {view.ignore_file}",
        paths=tuple(_in_project(view, entry) for entry in hits.largest()),
    )


def check_secrets(
    view: BuildView,
    has_ignore_file: bool,
    context: ContextListing,
    env_texts: Mapping[str, str | None] | None = None,
) -> list[Finding]:
    """``.env`` files, keys, credentials files the context sends: a warning; an env file
    whose text (``env_texts``) holds no secret-looking variable is only an info."""
    hits = _secret_hits(context)
    if not hits.entries:
        return []
    texts = env_texts or {}
    plain = {
        entry: texts[entry]
        for entry in hits.entries
        if is_env_file(entry) and texts.get(entry) is not None
        and not secret_looking(texts[entry] or "")
    }  # fmt: skip
    secrets = _Hits({e: files for e, files in hits.entries.items() if e not in plain})
    findings = [_plain_env_finding(view, list(plain), texts)] if plain else []
    if secrets.entries:
        findings.append(_secrets_finding(view, has_ignore_file, secrets, texts))
    return findings


def is_env_file(path: str) -> bool:
    """``.env`` or ``.env.<something>`` (not an example or template of one)."""
    name = posixpath.basename(path)
    return (name == ".env" or name.startswith(".env.")) and name not in _NOT_SECRET


def _secrets_finding(
    view: BuildView, has_ignore_file: bool, hits: _Hits, texts: Mapping[str, str | None]
) -> Finding:
    copied = [f for f in hits.files if copier(view, f.path) is not None]
    copy = copier(view, copied[0].path) if copied else None
    if copy is not None:
        names = ", ".join(_in_project(view, f.path) for f in copied[:EXAMPLES])
        cost = (
            f"{quote(copy)} (line {copy.instruction.line}) puts {names} into the image, where "
            "anyone who can pull or run it reads them (and the layer keeps them even if a "
            "later step deletes them)"
        )
    else:
        cost = (
            "sent to the engine on every build; no COPY reads them yet, but the first "
            "`COPY . .` puts them into the image"
        )
    held = sorted({name for e in hits.entries for name in secret_looking(texts.get(e) or "")})
    holding = f" (secret-looking: {', '.join(held[:EXAMPLES])})" if held else ""
    return Finding(
        check="context-secrets",
        level="warning",
        file=view.ignore_file,
        message=(
            f"secrets in the build context ({_unexcluded(view, has_ignore_file)}): "
            f"{count_files(len(hits.files))}{holding}"
        ),
        cost=cost,
        fix=(
            f"add {' '.join(_suggestions(hits))} to {view.ignore_file}; give the container "
            "its secrets at run time (env_file in devd.toml)"
        ),
        paths=tuple(_in_project(view, f.path) for f in hits.files[:EXAMPLES]),
    )


def _plain_env_finding(
    view: BuildView, entries: list[str], texts: Mapping[str, str | None]
) -> Finding:
    names = ", ".join(_in_project(view, e) for e in entries[:EXAMPLES])
    return Finding(
        check="context-env-file",
        level="info",
        file=view.ignore_file,
        message=(
            f"{names} in the build context holds only plain settings (no secret-looking "
            "names such as TOKEN, SECRET, PASSWORD or KEY, no random-looking values)"
        ),
        cost="a `COPY . .` bakes it into the image; a later secret added to it would be too",
        fix=f"fine as it is; to be safe add .env to {view.ignore_file} and pass it at run time",
        paths=tuple(_in_project(view, e) for e in entries[:EXAMPLES]),
    )


def _unexcluded(view: BuildView, has_ignore_file: bool) -> str:
    return f"not excluded by {view.ignore_file}" if has_ignore_file else "no ignore file"


def _hits(context: ContextListing, entry_of: Callable[[str], str | None]) -> _Hits:
    """The context's files grouped by their entry (``entry_of`` a path; None: not a hit)."""
    entries: dict[str, list[ContextFile]] = {}
    for file in context.files:
        entry = entry_of(file.path)
        if entry is not None:
            entries.setdefault(entry, []).append(file)
    return _Hits(entries)


def _category_hits(category: _Category, context: ContextListing) -> _Hits:
    marked = {
        posixpath.dirname(f.path)
        for f in context.files
        if category.marker is not None and posixpath.basename(f.path) == category.marker
    }
    return _hits(context, lambda path: _category_entry(category, path, marked))


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
    return _hits(context, _secret_entry)


def _secret_entry(path: str) -> str | None:
    """The secrets directory ``path`` lies in, or ``path`` when its name is a secret's."""
    parts = path.split("/")
    in_dir = next((i for i, p in enumerate(parts[:-1]) if p in _SECRET_DIRS), None)
    if in_dir is not None:
        return "/".join(parts[: in_dir + 1])
    return path if _is_secret_name(parts[-1]) else None


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


def _in_project(view: BuildView, path: str) -> str:
    return posixpath.join(view.context, path) if view.context else path


# --- patterns that match only at the root ---------------------------------------------------


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
    anchored = f"`{pattern}` matches only at the context root (ignore patterns are anchored)"
    level: Level = "info"
    message = f"{anchored}; nothing below the root matches it yet"
    cost = f"none yet; the first `{cleaned}` in a subdirectory will be sent to the engine"
    if slips:
        copy = first_copy(view, [ContextFile(p, 0) for p in slips])
        copied = f", and {quote(copy)} copies them into the image" if copy else ""
        level = "warning"
        message = f"{anchored}: {count_files(len(slips))} below the root slip through"
        cost = f"they are sent to the engine on every build{copied}"
    return Finding(
        check="ignore-root-only",
        level=level,
        file=view.ignore_file,
        line=line,
        message=message,
        cost=cost,
        fix=f"write `**/{cleaned}` (matches at any depth)",
        paths=tuple(_in_project(view, p) for p in slips[:EXAMPLES]),
    )


# --- size -------------------------------------------------------------------------------------


def check_context_size(view: BuildView, context: ContextListing) -> list[Finding]:
    """The context's size and its largest top-level entries (a warning when it is large)."""
    by_entry: Counter[str] = Counter()
    for file in context.files:
        head, _, rest = file.path.partition("/")
        by_entry[head + "/" if rest else head] += file.size
    largest = [entry for entry, _ in by_entry.most_common(EXAMPLES)]
    shown = ", ".join(f"{entry} {human_size(by_entry[entry])}" for entry in largest)
    count = count_files(len(context.files))
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
