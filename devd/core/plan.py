"""Planning: from a service's classified changes to the least work that makes it right again.

The seed guide's workflow table, as data:

| change      | by hand                                  | devd                                  |
|-------------|------------------------------------------|---------------------------------------|
| code        | ``make run``                             | cached rebuild + replace, or sync     |
| dependency  | ``make down && make run``                | cached rebuild (RUN re-runs) + replace |
|             |                                          | or exec the install in the container  |
| Dockerfile  | ``build --no-cache`` + ``up``            | re-read definition, rebuild + replace |

Pending work for a service folds every change that arrives while it is busy into one follow-up
(:meth:`Work.merge`), so saves are never dropped and never cause a build each; its ``generation``
is the newest save folded in, so one can tell which saved state a build reflects. Pure.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from devd.config import CodeAction, DependencyAction, ExecHook
from devd.core.classify import Classification, Kind


class Action(enum.Enum):
    """What devd does for a service; later members do strictly more."""

    NOTHING = "nothing"
    SYNC = "sync"  # copy files into the running container; the app reloads itself
    SYNC_RESTART = "sync-restart"  # copy files, then restart the container
    EXEC = "exec"  # copy dependency files in, re-run the install step there, restart
    REBUILD = "rebuild"  # cached build, replace the container


@dataclass(frozen=True)
class Work:
    """What a service has to catch up with: the changes, their strongest kind, the action."""

    changes: Mapping[str, Classification] = field(default_factory=dict)
    kind: Kind = Kind.IGNORED
    action: Action = Action.NOTHING
    no_cache: bool = False
    reload_definition: bool = False
    first_seen: float | None = None  # monotonic time of the earliest change folded in
    label: str | None = None  # what asked for work that no change triggered ("start")
    recreate: bool = False  # replace the container even if the image is unchanged (new config)
    generation: int = 0  # save counter of the newest change folded in (0: none counted)
    # develop.watch rules decided (devd.core.rules): the files to sync (container path ->
    # project-relative path) and the commands to run after the sync, each once
    syncs: Mapping[str, str] = field(default_factory=dict)
    execs: tuple[ExecHook, ...] = ()
    by_rules: bool = False
    fallback: str | None = None  # why a rebuild does what an exec was asked for

    @property
    def empty(self) -> bool:
        return self.action is Action.NOTHING and not self.no_cache

    def merge(self, other: Work) -> Work:
        """This work followed by ``other``: newest classification per path, strongest action."""
        firsts = [t for t in (self.first_seen, other.first_seen) if t is not None]
        return Work(
            changes={**self.changes, **other.changes},
            kind=max(self.kind, other.kind),
            action=_stronger(self.action, other.action),
            no_cache=self.no_cache or other.no_cache,
            reload_definition=self.reload_definition or other.reload_definition,
            first_seen=min(firsts) if firsts else None,
            label=other.label or self.label,
            recreate=self.recreate or other.recreate,
            generation=max(self.generation, other.generation),
            syncs={**self.syncs, **other.syncs},
            execs=self.execs + tuple(c for c in other.execs if c not in self.execs),
            by_rules=self.by_rules or other.by_rules,
            fallback=other.fallback or self.fallback,
        )

    def sync_files(self) -> dict[str, str]:
        """What a sync copies: container path -> project-relative path (rules' targets, or
        where the Dockerfile's COPY puts each code change)."""
        if self.by_rules:
            return dict(self.syncs)
        return {c.destination: c.path for c in self.changes.values() if c.destination}

    @property
    def trigger(self) -> str:
        """A short human summary of what triggered the work: ``app/x.py (code) +2 more``."""
        relevant = [c for c in self.changes.values() if c.kind is self.kind] or list(
            self.changes.values()
        )
        if not relevant:
            return self.label or "manual"
        head = f"{relevant[0].path} ({self.kind})"
        more = len(self.changes) - 1
        return f"{head} +{more} more" if more else head


_ORDER = [Action.NOTHING, Action.SYNC, Action.SYNC_RESTART, Action.EXEC, Action.REBUILD]


def _stronger(a: Action, b: Action) -> Action:
    return a if _ORDER.index(a) >= _ORDER.index(b) else b


def action_for(
    kind: Kind, code_action: CodeAction, dependency_action: DependencyAction = "rebuild"
) -> Action:
    """The action one kind of change calls for, given the service's ``code_action`` and
    ``dependency_action`` (an exec the worker finds unsafe is rebuilt:
    devd.core.dependency_exec)."""
    if kind is Kind.IGNORED:
        return Action.NOTHING
    if kind is Kind.CODE:
        return Action(code_action)
    if kind is Kind.DEPENDENCY and dependency_action == "exec":
        return Action.EXEC
    return Action.REBUILD


def plan(
    changes: Iterable[Classification],
    code_action: CodeAction,
    dockerfile_no_cache: bool,
    now: float | None = None,
    dependency_action: DependencyAction = "rebuild",
) -> Work:
    """The work one batch of classified changes calls for (``Work()`` when all are ignored)."""
    by_path = {change.path: change for change in changes}
    kind = max((c.kind for c in by_path.values()), default=Kind.IGNORED)
    relevant = {path: c for path, c in by_path.items() if c.kind is not Kind.IGNORED}
    if kind is Kind.IGNORED:
        return Work()
    action = action_for(kind, code_action, dependency_action)
    if action in (Action.SYNC, Action.SYNC_RESTART) and not syncable(relevant.values()):
        action = Action.REBUILD
    return Work(
        changes=relevant,
        kind=kind,
        action=action,
        no_cache=kind is Kind.DOCKERFILE and dockerfile_no_cache,
        reload_definition=kind is Kind.DOCKERFILE,
        first_seen=now,
    )


def syncable(changes: Iterable[Classification]) -> bool:
    """Whether every change has a place in the running container (a COPY of the final stage)."""
    return all(change.destination is not None for change in changes)


def manual(
    no_cache: bool, now: float | None = None, label: str = "rebuild", recreate: bool = False
) -> Work:
    """A rebuild no change triggered: start-up, ``devd rebuild``, a key, a new configuration
    (``recreate``: the container must be made anew even from the same image)."""
    label = f"{label} without cache" if no_cache else label
    return Work(
        action=Action.REBUILD, no_cache=no_cache, first_seen=now, label=label, recreate=recreate
    )
