"""What the checks ask of the Dockerfile: the steps the build runs, the COPY that reads a
context file, the copy of the whole context, whether a path is a dependency manifest; and how a
finding quotes a step."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from fnmatch import fnmatchcase

from devd.core.classify import BuildView
from devd.core.copy_sources import reads
from devd.core.dockerfile import Stage, Step
from devd.doctor.facts import ContextFile

MANIFESTS = (
    "requirements*.txt", "requirements*.in", "constraints*.txt", "pyproject.toml", "setup.py",
    "setup.cfg", "poetry.lock", "Pipfile", "Pipfile.lock", "pdm.lock", "uv.lock",
    "package.json", "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml",
    ".npmrc", ".yarnrc*", "go.mod", "go.sum", "Gemfile", "Gemfile.lock", "Cargo.toml",
    "Cargo.lock", "composer.json", "composer.lock", "pom.xml", "build.gradle*", "*.csproj",
)  # fmt: skip


def needed_steps(view: BuildView) -> Iterator[tuple[Stage, Step]]:
    """Every step of the stages the build target needs, with its stage, in order."""
    for stage in view.dockerfile.needed_stages(view.target):
        for step in stage.steps:
            yield stage, step


def runs(view: BuildView) -> list[tuple[Stage, Step]]:
    return [(stage, step) for stage, step in needed_steps(view) if step.keyword == "RUN"]


def copier(view: BuildView, path: str) -> Step | None:
    """The first COPY/ADD of the needed stages that reads context-relative ``path``."""
    return next(
        (
            step
            for _, step in needed_steps(view)
            if step.keyword in ("COPY", "ADD") and any(reads(s, path) for s in step.sources)
        ),
        None,
    )


def first_copy(view: BuildView, files: Iterable[ContextFile]) -> Step | None:
    return next((s for f in files if (s := copier(view, f.path)) is not None), None)


def whole_context_copy(view: BuildView) -> Step | None:
    return next((step for _, step in needed_steps(view) if copies_whole_context(step)), None)


def copies_whole_context(step: Step) -> bool:
    return step.keyword in ("COPY", "ADD") and any(s.pattern == "" for s in step.sources)


_GLOB = re.compile(r"[*?\[]")
# Each manifest's usual name (the patterns' wildcards dropped): what a glob source such as
# ``package*.json`` or ``poetry.lock*`` is checked against.
_MANIFEST_NAMES = tuple(
    name for name in (m.replace("*", "") for m in MANIFESTS) if name and not name.startswith(".")
)


def is_manifest(pattern: str) -> bool:
    """Whether a COPY source reads only dependency manifests: a manifest's name, or a glob
    with a literal start that picks manifests (``package*.json``, ``./poetry.lock*``), not one
    that picks code by extension (``*.py`` matches setup.py, but is code)."""
    if pattern == "":
        return False
    parts = pattern.split("/")
    name = parts[-1]
    if parts[0].startswith("requirements") or any(fnmatchcase(name, m) for m in MANIFESTS):
        return True
    literal = _GLOB.split(name, maxsplit=1)[0]
    return (
        bool(_GLOB.search(name))
        and len(literal) >= 3
        and any(fnmatchcase(known, name) and known.startswith(literal) for known in _MANIFEST_NAMES)
    )


def quote(step: Step) -> str:
    return f"`{cut(step.instruction.display, 70)}`"


def cut(text: str, width: int) -> str:
    """``text``, or its first words that fit in ``width`` with ``...``."""
    if len(text) <= width:
        return text
    head = text[: width - 3]
    return (head.rsplit(" ", 1)[0] if " " in head else head) + "..."
