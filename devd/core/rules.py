"""``develop.watch`` rules: what a changed path means for a service that has them. Pure.

Compose's semantics (``docker compose watch``, pkg/compose/watch.go), which devd follows so a
project that works there works here unchanged:

- a rule matches a path under its ``path`` (or the path itself) unless it is ignored: by the
  build context's ignore file (the one that applies to the Dockerfile; image-only services
  have none), by devd's own ignore list (editor temp files, ``.git``: compose's ephemeral and
  ``.git/`` matchers), or by the rule's ``ignore`` patterns (relative to its ``path``); when
  the rule has ``include`` patterns (relative to its ``path``), only paths they match count;
- **every** rule that matches applies, not only the first: a batch rebuilds if any match says
  ``rebuild``; otherwise files matched by ``sync``/``sync+restart``/``sync+exec`` rules are
  copied to ``target`` joined with the path below the rule's ``path`` (deleted there when gone
  on the host), then the container restarts if any match says ``restart``/``sync+restart``,
  then each matched ``sync+exec`` rule's command runs once (after a rebuild too, in the new
  container);
- ``sync`` rules whose ``path`` lies in a bind mount of the service are skipped (the mount
  shows the change already); ``initial_sync`` copies a sync rule's whole tree at start
  (without the ignored files, the Dockerfile and compose files).

A service without rules (``watch`` None) is decided by devd's classification
(:mod:`devd.core.classify`), except that a path under one of its bind mounts
(:mod:`devd.core.bind_mounts`) needs nothing, its build definition aside: the container sees it
through the mount, as under compose, and what the container writes there starts nothing. An
image-only service without rules ignores every change.
"""

from __future__ import annotations

import fnmatch
import functools
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

from devd.config import CodeAction, ExecHook, ServiceConfig, WatchRule
from devd.core import dependency_exec
from devd.core.bind_mounts import BindMount, reaching
from devd.core.classify import BuildView, Classification, Kind, classify, normalise, subtree_ignored
from devd.core.ignore import IgnoreRules
from devd.core.plan import Action, Work, plan

SYNCING = frozenset({"sync", "sync+restart", "sync+exec"})
RESTARTING = frozenset({"restart", "sync+restart"})
# never copied by an initial sync (compose: the Dockerfile and compose files, by file name)
DEFINITION_FILES = ("Dockerfile", "*compose*.y*ml")


@dataclass(frozen=True)
class RuleMatch:
    """Rule number ``index`` of a service matched a path; ``container_path`` is where a sync
    puts it (None: the rule does not sync, or has no ``target``)."""

    index: int
    rule: WatchRule
    container_path: str | None


@functools.lru_cache(maxsize=512)
def _patterns(patterns: tuple[str, ...]) -> IgnoreRules:
    return IgnoreRules(patterns)


def _below(path: str, directory: str) -> str | None:
    """``path`` relative to ``directory`` ("" when equal); None when not under it."""
    if directory == "":
        return path
    if path == directory:
        return ""
    if path.startswith(directory + "/"):
        return path[len(directory) + 1 :]
    return None


def _exclusion(
    path: str, rule_relative: str, rule: WatchRule, view: BuildView | None
) -> str | None:
    """Why ``rule`` leaves out ``path`` (under its ``path``: ``rule_relative``), as explain
    says it; None when it does not."""
    if view is not None:
        verdict = view.watch_ignore.verdict(path)
        if verdict.excluded:
            return f"excluded by devd's ignore list: pattern {verdict.pattern!r}"
        in_context = _below(path, view.context)
        verdict = view.ignore_rules.verdict(in_context) if in_context else verdict
        if in_context and verdict.excluded:
            return f"excluded by {view.ignore_file}: pattern {verdict.pattern!r}"
    name = rule_relative or PurePosixPath(path).name
    if rule.include and not _patterns(rule.include).excludes(name):
        listed = ", ".join(repr(pattern) for pattern in rule.include)
        return f"not matched by its include patterns ({listed})"  # "excludes" = matches
    if rule.ignore and (ignored := _patterns(rule.ignore).verdict(name)).excluded:
        return f"excluded by its ignore pattern {ignored.pattern!r}"
    return None


def match_rule(index: int, rule: WatchRule, path: str, view: BuildView | None) -> RuleMatch | None:
    """Whether ``rule`` applies to project-relative ``path``, and where a sync puts it."""
    path = normalise(path)
    relative = _below(path, normalise(rule.path))
    if relative is None or _exclusion(path, relative, rule, view) is not None:
        return None
    target = None
    if rule.action in SYNCING and rule.target:
        target = posixpath.join(rule.target, relative) if relative else rule.target
    return RuleMatch(index, rule, target)


def active_rules(service: ServiceConfig, root: str) -> list[tuple[int, WatchRule]]:
    """The service's rules that devd follows: all but sync rules inside a bind mount."""
    binds = [m.source for m in service.volumes if m.kind == "bind"]
    active = []
    for index, rule in enumerate(service.watch or ()):
        absolute = posixpath.join(root, normalise(rule.path))
        mounted = any(_below(absolute, source.rstrip("/")) is not None for source in binds)
        if not (mounted and rule.action in SYNCING):
            active.append((index, rule))
    return active


def matches(
    path: str, service: ServiceConfig, view: BuildView | None, root: str
) -> list[RuleMatch]:
    """Every rule of ``service`` that applies to ``path``, in the order written."""
    found = (match_rule(i, rule, path, view) for i, rule in active_rules(service, root))
    return [m for m in found if m is not None]


def _explain_matches(path: str, service: str, found: list[RuleMatch]) -> Classification:
    if not found:
        return Classification(path, service, Kind.IGNORED, NO_RULE)
    parts = []
    for m in found:
        where = f" to {m.container_path}" if m.container_path else ""
        parts.append(f"develop.watch[{m.index}] {m.rule.action} (path {m.rule.path or '.'}){where}")
    rebuild = any(m.rule.action == "rebuild" for m in found)
    destination = next((m.container_path for m in found if m.container_path), None)
    kind = Kind.DEPENDENCY if rebuild else Kind.CODE
    return Classification(path, service, kind, "; ".join(parts), destination=destination)


def explain(path: str, service: ServiceConfig, view: BuildView, root: str) -> Classification:
    """What ``path`` means for ``service``: its develop.watch rules decide when it has them;
    else devd's classification (nothing for a path that reaches the container through a bind
    mount), or nothing for an image-only service."""
    path = normalise(path)
    if service.watch is not None:
        found = _explain_matches(path, service.name, matches(path, service, view, root))
        if found.kind is Kind.IGNORED:
            return replace(found, reason=_unmatched(path, service, view, root))
        return found
    if not service.build:
        mount = reaching(path, service, root)
        if mount is not None:
            return Classification(path, service.name, Kind.IGNORED, _mounted(service, mount))
        reason = (
            f"service {service.name} has no build (runs image {service.image}): no file feeds it"
        )
        return Classification(path, service.name, Kind.IGNORED, reason)
    found = _classified_path(path, service, view, root)
    if found.kind is Kind.DEPENDENCY and service.dependency_action == "exec":
        return dependency_exec.explained(found, view, service.code_action)
    return found


NO_RULE = "matched by no develop.watch rule"


def _unmatched(path: str, service: ServiceConfig, view: BuildView, root: str) -> str:
    """Why no develop.watch rule of ``service`` applies to ``path``: the first rule whose
    path holds it and what leaves it out (an ignore list, the rule's ignore or include
    patterns, or a bind mount that makes compose skip a sync rule); else no rule's path."""
    active = dict(active_rules(service, root))
    for index, rule in enumerate(service.watch or ()):
        relative = _below(path, normalise(rule.path))
        if relative is None:
            continue
        where = f"develop.watch[{index}] {rule.action} (path {rule.path or '.'})"
        if index not in active:
            mount = reaching(path, service, root)
            through = f" through the bind mount {mount.display}" if mount else ""
            return f"reaches {service.name}{through}; {where} is skipped, as compose skips it"
        why = _exclusion(path, relative, rule, view)
        if why is not None:
            return f"{why}: {where} leaves it out"
    return NO_RULE


def _mounted(service: ServiceConfig, mount: BindMount) -> str:
    return f"reaches {service.name} through the bind mount {mount.display}; nothing to do"


def _classified_path(
    path: str, service: ServiceConfig, view: BuildView, root: str
) -> Classification:
    """devd's classification of ``path`` for a built service without rules, where a path
    under one of its bind mounts needs nothing (the container sees it already; files the
    container writes there start nothing): only the build definition itself (Dockerfile,
    ignore file) still rebuilds."""
    found = classify(path, view)
    mount = reaching(path, service, root) if found.kind is not Kind.DOCKERFILE else None
    if mount is None:
        return found
    reason = _mounted(service, mount)
    if found.kind is Kind.DEPENDENCY and found.run_line is not None:
        run = f"{view.dockerfile_path}:{found.run_line} `{found.run_instruction}`"
        reason += f" (the image's {run} does not re-run: devd rebuild {service.name} does it)"
    return Classification(path, service.name, Kind.IGNORED, reason)


def concerns(path: str, service: ServiceConfig, root: str) -> bool:
    """Whether ``path`` can matter to an image-only service: it lies under one of its bind
    mounts, or under the path of one of its develop.watch rules."""
    path = normalise(path)
    if reaching(path, service, root) is not None:
        return True
    return any(_below(path, normalise(rule.path)) is not None for rule in service.watch or ())


def relevant(path: str, service: ServiceConfig, view: BuildView, root: str) -> bool:
    """Whether a change to ``path`` could call for work on ``service``."""
    if service.watch is not None:
        return bool(matches(path, service, view, root))
    return service.build and _classified_path(path, service, view, root).kind is not Kind.IGNORED


def prunable(directory: str, service: ServiceConfig, view: BuildView, root: str) -> bool:
    """Whether no change under ``directory`` can matter to ``service`` (no watch needed)."""
    directory = normalise(directory)
    if service.watch is not None:
        if view.watch_ignore.excludes_tree(directory):
            return True
        return not any(
            _below(normalise(rule.path), directory) is not None
            or _below(directory, normalise(rule.path)) is not None
            for _, rule in active_rules(service, root)
        )
    if not service.build or subtree_ignored(directory, view):
        return True
    definition = (view.dockerfile_path, view.ignore_file, view.unused_ignore_file)
    holds_definition = any(
        name and _below(name, directory) is not None for name in definition
    )  # fmt: skip
    return reaching(directory, service, root) is not None and not holds_definition


def plan_batch(
    paths: Iterable[str], service: ServiceConfig, view: BuildView, root: str, now: float | None
) -> Work:
    """The work a batch of changed paths calls for on ``service`` (``Work()``: none)."""
    if service.watch is None:
        if not service.build:
            return Work()
        return _classified(paths, service, view, root, service.code_action, now)
    changes: dict[str, Classification] = {}
    syncs: dict[str, str] = {}
    execs: list[ExecHook] = []
    actions: set[str] = set()
    for path in sorted(paths):
        found = matches(path, service, view, root)
        if not found:
            continue
        changes[normalise(path)] = _explain_matches(normalise(path), service.name, found)
        for m in found:
            actions.add(m.rule.action)
            if m.container_path is not None:
                syncs[m.container_path] = normalise(path)
            hook = m.rule.exec_hook
            if hook and hook not in execs:
                execs.append(hook)
    if not changes:
        return Work()
    return Work(
        changes=changes,
        kind=max(c.kind for c in changes.values()),
        action=_action(actions),
        first_seen=now,
        syncs=syncs,
        execs=tuple(execs),
        by_rules=True,
    )


def plan_early(
    paths: Iterable[str], service: ServiceConfig, view: BuildView, root: str, now: float | None
) -> Work:
    """The work an early look at a batch still open calls for (``Work()``: none): a service
    that syncs its code (``sync``, ``sync-restart``, no develop.watch rules: those decide on
    the final batch) copies its code changes in at once, without a restart; anything more
    waits for the final batch (:func:`plan_batch`), which copies nothing twice."""
    syncs_code = service.code_action in ("sync", "sync-restart")
    if not syncs_code or not service.build or service.watch is not None:
        return Work()
    work = _classified(paths, service, view, root, "sync", now)
    return work if work.action is Action.SYNC else Work()


def _classified(
    paths: Iterable[str],
    service: ServiceConfig,
    view: BuildView,
    root: str,
    code_action: CodeAction,
    now: float | None,
) -> Work:
    """The work devd's classification plans for a batch (a service without rules)."""
    changes = [_classified_path(normalise(path), service, view, root) for path in sorted(paths)]
    return plan(
        changes,
        code_action,
        service.dockerfile_no_cache,
        now=now,
        dependency_action=service.dependency_action,
    )


def _action(actions: set[str]) -> Action:
    if "rebuild" in actions:
        return Action.REBUILD
    if actions & RESTARTING:
        return Action.SYNC_RESTART
    return Action.SYNC


def initial_sync(
    service: ServiceConfig, view: BuildView | None, root: str, files: Mapping[int, Iterable[str]]
) -> dict[str, str]:
    """What ``initial_sync`` copies at start: container path -> project-relative path, for
    the files (``files[index]``: every file under rule ``index``'s path) of the service's
    sync and sync+restart rules that ask for it."""
    copies: dict[str, str] = {}
    for index, rule in active_rules(service, root):
        if not rule.initial_sync or rule.action not in ("sync", "sync+restart"):
            continue
        for path in files.get(index, ()):
            if _definition_file(PurePosixPath(path).name, service):
                continue
            found = match_rule(index, rule, path, view)
            if found is not None and found.container_path is not None:
                copies[found.container_path] = normalise(path)
    return copies


def _definition_file(name: str, service: ServiceConfig) -> bool:
    patterns = (*DEFINITION_FILES, service.dockerfile.name) if service.build else DEFINITION_FILES
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)
