"""Checks on the Dockerfile alone: instruction order that defeats the cache (code copied before
a package install), floating base tags, ``apt-get update`` on its own, package lists and pip's
cache left in layers, downloads of moving targets, and ``dockerfile_no_cache`` in the config."""

from __future__ import annotations

import posixpath
import re
from fnmatch import fnmatchcase

from devd.core.classify import BuildView
from devd.core.dockerfile import Stage, Step
from devd.doctor.findings import Finding, Level
from devd.doctor.steps import MANIFESTS, copies_whole_context, is_manifest, quote, runs

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
        before = stage.steps[:position]
        copy = next((s for s in before if _copies_code(s)), None)
        if copy is None or copy.instruction.line in reported:
            continue
        tool = _tool(step.instruction.text)
        earlier = before[: before.index(copy)]
        if tool is not None and any(
            _installs(s) and _tool(s.instruction.text) == tool for s in earlier
        ):
            # The same tool installed the dependencies before the code came (uv's
            # `sync --no-install-project`, then `COPY . .`, then `sync`): this install only
            # adds the project; the RUN-after-copy info below says what a save costs.
            continue
        reported.add(copy.instruction.line)
        findings.append(_order_finding(dockerfile, copy, step))
    for position, step in enumerate(stage.steps):
        if not copies_whole_context(step) or step.instruction.line in reported:
            continue
        run = next((s for s in stage.steps[position + 1 :] if s.keyword == "RUN"), None)
        if run is not None:
            findings.append(_run_after_copy_finding(dockerfile, step, run))
    return findings


_TOOLS = (
    ("pip", re.compile(r"\b(?:pip3?|python3?\s+-m\s+pip|uv\s+pip)\s+install\b")),
    ("uv", re.compile(r"\buv\s+sync\b")),
    ("poetry", re.compile(r"\bpoetry\s+(?:install|sync)\b")),
    ("pipenv", re.compile(r"\bpipenv\s+(?:install|sync)\b")),
    ("pdm", re.compile(r"\bpdm\s+(?:install|sync)\b")),
    ("npm", re.compile(r"\b(?:npm|pnpm|yarn)\b")),
    ("bundle", re.compile(r"\bbundle\s+install\b")),
    ("go", re.compile(r"\bgo\s+mod\s+download\b")),
    ("composer", re.compile(r"\bcomposer\s+install\b")),
)


def _tool(text: str) -> str | None:
    """The language package manager an install command runs (None: a system one, or none)."""
    return next((name for name, pattern in _TOOLS if pattern.search(text)), None)


def _installs(step: Step) -> bool:
    text = step.instruction.text
    return step.keyword == "RUN" and bool(_INSTALL.search(text)) and "--no-deps" not in text


def _copies_code(step: Step) -> bool:
    return step.keyword in ("COPY", "ADD") and any(
        not is_manifest(source.pattern) for source in step.sources
    )


def _order_finding(dockerfile: str, copy: Step, install: Step) -> Finding:
    what = "the whole context" if copies_whole_context(copy) else "files other than manifests"
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
            f"{quote(install)}, then {quote(copy)} after it"
        )
    else:
        fix = (
            f"move {quote(install)} above {quote(copy)} (it does not need the code), or copy "
            "only the files it reads before it"
        )
    return _step_finding(
        dockerfile,
        copy,
        check="order-code-before-install",
        level="warning",
        says=f"copies {what} before {quote(install)} (line {install.instruction.line})",
        cost=(
            "every save of a copied file busts the copy and re-runs the install (devd sees a "
            "dependency change): a full package install per save instead of a cached copy"
        ),
        fix=fix,
    )


def _run_after_copy_finding(dockerfile: str, copy: Step, run: Step) -> Finding:
    return _step_finding(
        dockerfile,
        run,
        check="run-after-code-copy",
        level="info",
        says=f"comes after {quote(copy)} (line {copy.instruction.line})",
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


def _step_finding(
    dockerfile: str, step: Step, *, check: str, level: Level, says: str, cost: str, fix: str
) -> Finding:
    """A finding at ``step``'s line whose message quotes the step, then ``says``."""
    return Finding(
        check=check,
        level=level,
        file=dockerfile,
        line=step.instruction.line,
        message=f"{quote(step)} {says}",
        cost=cost,
        fix=fix,
    )


# --- single-line cache hazards ----------------------------------------------------------------

_FLOATING_TAGS = frozenset(
    {"lts", "stable", "current", "rolling", "edge", "mainline", "nightly", "devel", "testing",
     "unstable", "sid", "slim", "alpine"}
)  # fmt: skip
_APT_UPDATE = re.compile(r"\bapt(?:-get)?\s+(?:-\S+\s+)*update\b")
_APT_INSTALL = re.compile(r"\bapt(?:-get)?\s+(?:-\S+\s+)*install\b")
_PIP_INSTALL = re.compile(r"\b(?:pip3?|python3?\s+-m\s+pip)\s+install\b")
_MOVING_URL = re.compile(r"https?://\S*(?:/latest\b|/(?:master|main|HEAD)(?:/|\b))")


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


def check_apt(view: BuildView) -> list[Finding]:
    """``apt-get update`` (or ``apk update``) in a RUN without the install (a warning); an
    apt install that leaves the package lists in the layer (an info)."""
    findings = []
    for _, step in runs(view):
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
    return _step_finding(
        view.dockerfile_path,
        step,
        check="apt-update-alone",
        level="warning",
        says="updates the package index in a RUN of its own",
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
    return _step_finding(
        view.dockerfile_path,
        step,
        check="apt-lists-kept",
        level="info",
        says="leaves the apt package lists in the layer",
        cost="tens of MB in the image that nothing uses",
        fix="end the same RUN with `&& rm -rf /var/lib/apt/lists/*`",
    )


def check_pip_cache(view: BuildView) -> list[Finding]:
    """``pip install`` that keeps pip's download cache in the layer."""
    findings = []
    for stage, step in runs(view):
        text = step.instruction.text
        if not _PIP_INSTALL.search(text) or "--no-cache-dir" in text or "type=cache" in text:
            continue
        if any(
            s.keyword == "ENV" and "PIP_NO_CACHE_DIR" in s.instruction.text for s in stage.steps
        ):
            continue
        findings.append(
            _step_finding(
                view.dockerfile_path,
                step,
                check="pip-cache",
                level="info",
                says="keeps pip's download cache in the layer",
                cost="a larger image (often tens of MB) for a cache no later build uses",
                fix="add `--no-cache-dir` (or `ENV PIP_NO_CACHE_DIR=1`)",
            )
        )
    return findings


def check_fetches(view: BuildView) -> list[Finding]:
    """A RUN that downloads a moving target (``git clone`` without a ref, a URL to
    ``latest``/``master``): the cache keeps the first download."""
    findings = []
    for _, step in runs(view):
        text = step.instruction.text
        clone = re.search(r"\bgit\s+clone\b", text) and not re.search(
            r"--branch\b|\s-b\s|\bgit\s+checkout\b|\bgit\s+reset\b", text
        )
        if clone or _MOVING_URL.search(text):
            findings.append(
                _step_finding(
                    view.dockerfile_path,
                    step,
                    check="fetch-unpinned",
                    level="info",
                    says="downloads a moving target",
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
