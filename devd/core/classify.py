"""Classification: what a changed path means for a service's image.

Exactly one of four kinds, strongest first:

- ``dockerfile``: the build definition changed (the Dockerfile or the ignore file that applies);
- ``dependency``: the earliest layer the path feeds is followed by a RUN step, so a rebuild
  re-runs build commands;
- ``code``: only copy and metadata layers are invalidated;
- ``ignored``: the engine would never see it, or devd's own ignore list says it never matters.

Derived from the parsed Dockerfile and the ignore rules, never from file names. Pure.
"""

from __future__ import annotations

import enum
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass

from devd.core.copy_sources import has_glob, landing_path, matched_root, reads
from devd.core.dockerfile import Dockerfile, Stage, Step
from devd.core.ignore import IgnoreRules, ignore_file_for


class Kind(enum.IntEnum):
    """The classes of change, ordered so that ``max()`` of a batch is its strongest class."""

    IGNORED = 0
    CODE = 1
    DEPENDENCY = 2
    DOCKERFILE = 3

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class BuildView:
    """What classification needs to know about one service; all paths project-relative.

    ``context`` is ``""`` for the project root. ``ignore_file`` is the ignore file that applies
    (``<Dockerfile>.dockerignore`` when it exists, else ``<context>/.dockerignore``) and
    ``ignore_rules`` its patterns; ``unused_ignore_file`` is ``<context>/.dockerignore`` when
    the Dockerfile-specific one replaces it.
    """

    service: str
    context: str
    dockerfile_path: str
    dockerfile: Dockerfile
    target: str | None
    ignore_file: str
    ignore_rules: IgnoreRules
    watch_ignore: IgnoreRules
    unused_ignore_file: str | None = None


@dataclass(frozen=True)
class Classification:
    """The kind of one path for one service, with the evidence a person can check."""

    path: str
    service: str
    kind: Kind
    reason: str
    line: int | None = None  # Dockerfile line the path feeds (or that changed)
    instruction: str | None = None
    run_line: int | None = None  # the RUN step a dependency change forces
    run_instruction: str | None = None
    pattern: str | None = None  # the ignore pattern that excluded it
    destination: str | None = None  # where the path lands in the image (code changes)
    exec_command: str | None = None  # dependency_action = exec: the command it would run

    def as_dict(self) -> dict[str, object]:
        data = {key: getattr(self, key) for key in self.__dataclass_fields__}
        data["kind"] = str(self.kind)
        return {key: value for key, value in data.items() if value is not None}


def classify(path: str, view: BuildView) -> Classification:
    """Classify one project-relative, ``/``-separated ``path`` for the service in ``view``."""
    path = normalise(path)
    definition = _definition_change(path, view)
    if definition is not None:
        return definition
    watch_verdict = view.watch_ignore.verdict(path)
    if watch_verdict.excluded:
        return _ignored(path, view, f"devd's ignore list: pattern {watch_verdict.pattern!r}",
                        pattern=watch_verdict.pattern)  # fmt: skip
    relative = _within(path, view.context)
    if relative is None:
        return _ignored(path, view, f"outside the build context {view.context or '.'}/")
    verdict = view.ignore_rules.verdict(relative)
    if verdict.excluded:
        return _ignored(path, view, f"excluded by {view.ignore_file}: pattern {verdict.pattern!r}",
                        pattern=verdict.pattern)  # fmt: skip
    return _by_layers(path, relative, view)


def subtree_ignored(directory: str, view: BuildView) -> bool:
    """Whether every path under project-relative ``directory`` is ``ignored`` for ``view``
    (so the watcher need not watch it: a ``node_modules`` the ignore file excludes)."""
    directory = normalise(directory)
    below = directory + "/"
    for name in (view.dockerfile_path, view.ignore_file, view.unused_ignore_file):
        if name and (name == directory or name.startswith(below)):
            return False
    if view.watch_ignore.excludes_tree(directory):
        return True
    inside = _within(directory, view.context)
    if inside is None:  # outside the context, unless the context lies under it
        return not (view.context == directory or view.context.startswith(below))
    return inside != "" and view.ignore_rules.excludes_tree(inside)


def strongest(kinds: Iterable[Kind]) -> Kind:
    """The class of a batch: its strongest member (``ignored`` for an empty batch)."""
    return max(kinds, default=Kind.IGNORED)


def normalise(path: str) -> str:
    cleaned = posixpath.normpath(path.replace("\\", "/")).lstrip("/")
    return "" if cleaned == "." else cleaned


def _within(path: str, directory: str) -> str | None:
    if (path == ".." or path.startswith("../")) and not directory.startswith(".."):
        return None
    if directory == "":
        return path
    if path == directory or path.startswith(directory + "/"):
        return path[len(directory) :].lstrip("/")
    return None


def _definition_change(path: str, view: BuildView) -> Classification | None:
    if path == view.dockerfile_path:
        return Classification(
            path, view.service, Kind.DOCKERFILE, f"the Dockerfile of service {view.service}"
        )
    if path in (view.ignore_file, ignore_file_for(view.dockerfile_path)):
        reason = f"the ignore file that applies to {view.dockerfile_path}"
        return Classification(path, view.service, Kind.DOCKERFILE, reason)
    if path == view.unused_ignore_file:
        reason = f"not used: {view.ignore_file} applies to {view.dockerfile_path} instead"
        return _ignored(path, view, reason)
    return None


def _ignored(path: str, view: BuildView, reason: str, pattern: str | None = None) -> Classification:
    return Classification(path, view.service, Kind.IGNORED, reason, pattern=pattern)


def _by_layers(path: str, relative: str, view: BuildView) -> Classification:
    stages = view.dockerfile.needed_stages(view.target)
    invalid = _invalidated(relative, stages)
    busted = [(stage, step) for stage in stages for i, step in enumerate(stage.steps)
              if (stage.index, i) in invalid]  # fmt: skip
    first = busted[0] if busted else None
    target = view.target or stages[-1].label
    if first is None:
        reason = f"read by no COPY/ADD of the stages target {target!r} needs"
        return _ignored(path, view, reason)
    stage, step = first
    line, text = step.instruction.line, step.instruction.display
    where = f"{view.dockerfile_path}:{line} `{text}`"
    run = next((s for _, s in busted if s.keyword == "RUN"), None)
    if run is not None:
        if run is step:  # the RUN reads the path itself (a bind mount): one line, named once
            reason = f"read by {where} through a bind mount; the step re-runs"
        else:
            forced = f"{view.dockerfile_path}:{run.instruction.line} `{run.instruction.display}`"
            reason = f"feeds {where}; {forced} re-runs"
        return Classification(path, view.service, Kind.DEPENDENCY, reason, line, text,
                              run.instruction.line, run.instruction.display)  # fmt: skip
    destination = _landing(relative, step) if stage is stages[-1] else None
    lands = f" to {destination}" if destination else ""
    reason = f"copied by {where}{lands}; no RUN step after it"
    if all(st is not stages[-1] for st, _ in busted):
        reason += f"; the image of target {target!r} does not change"
    return Classification(
        path, view.service, Kind.CODE, reason, line, text, destination=destination
    )


def _landing(relative: str, step: Step) -> str | None:
    if step.destination is None:
        return None
    many = len(step.sources) > 1
    for source in step.sources:
        if reads(source, relative):
            if step.keyword == "ADD" and matched_root(source.pattern, relative) == relative:
                return None  # ADD unpacks a local tar archive: what lands where is unknown
            return landing_path(source, step.destination, relative, many)
    return None


def _invalidated(relative: str, stages: tuple[Stage, ...]) -> set[tuple[int, int]]:
    """(stage, position) of each step whose cache a change to ``relative`` busts.

    Follows the change through the image: a step that copies the path lands it at some image
    paths; once a step misses the cache every later step of its stage does too; a RUN after
    that may change anything (``/``). A stage whose FROM names a changed stage starts changed;
    ``COPY --from`` misses the cache only when what it copies overlaps what changed there.
    """
    invalid: set[tuple[int, int]] = set()
    changed_in: dict[int, frozenset[str]] = {}
    for stage in stages:
        changed = (
            set(changed_in.get(stage.base_stage, ())) if stage.base_stage is not None else set()
        )
        busted = bool(changed)
        for position, step in enumerate(stage.steps):
            landed = _lands(step, relative, changed_in)
            busted = busted or bool(landed)
            changed |= landed
            if busted:
                invalid.add((stage.index, position))
                if step.keyword == "RUN":
                    changed = {"/"}
        changed_in[stage.index] = frozenset(changed)
    return invalid


def _lands(step: Step, relative: str, changed_in: dict[int, frozenset[str]]) -> set[str]:
    """The image paths ``step`` writes differently after a change to ``relative``."""
    destination = step.destination or "/"
    if step.from_stage is not None:
        changed = changed_in.get(step.from_stage, frozenset())
        hit = any(_overlap(c, _static_prefix(p)) for c in changed for p in step.from_paths)
        return {destination} if hit else set()
    for stage, mounted in step.stage_mounts:  # RUN --mount=type=bind,from=<stage>
        if any(_overlap(c, _static_prefix(mounted)) for c in changed_in.get(stage, frozenset())):
            return {destination}
    many = len(step.sources) > 1
    return {
        landing_path(source, destination, relative, many) or destination
        for source in step.sources
        if reads(source, relative)
    }


def _overlap(a: str, b: str) -> bool:
    """Whether image paths ``a`` and ``b`` are the same or one contains the other."""
    a, b = a.rstrip("/") or "/", b.rstrip("/") or "/"
    return "/" in (a, b) or a == b or a.startswith(b + "/") or b.startswith(a + "/")


def _static_prefix(path: str) -> str:
    """The directory part of ``path`` before its first glob component (``/a/*.py``: ``/a``)."""
    parts = path.split("/")
    first_glob = next((i for i, part in enumerate(parts) if has_glob(part)), len(parts))
    return "/".join(parts[:first_glob]) or "/"
