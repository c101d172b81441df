"""``devd explain``: what a change to a path means, for devd itself and for each service. Pure.

Each service's answer is :func:`devd.core.rules.explain` (its image, or its develop.watch rules).
Before those rows comes, where it applies, one :class:`Note` about devd itself:

- a file whose save reloads the configuration during ``devd up`` (the very paths
  :func:`devd.daemon.reload.config_paths` gives the watcher) says so, with what the file configures;
  the service rows still say what the engine sees of it (a compose.yaml that ``COPY . .``
  reads is also a ``code`` change);
- a path outside the project says that ``devd up`` never watches it, in place of the service
  rows (which would each say "outside the build context"), but for a service whose build
  context does hold it.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from devd.compose.files import DOTENV
from devd.config import CONFIG_FILE, PYPROJECT, ProjectConfig, ServiceConfig
from devd.core import rules
from devd.core.classify import BuildView, Classification, Kind, normalise
from devd.daemon.reload import config_paths
from devd.project import relative

RELOADS = (
    "a save during devd up reloads the configuration "
    "and recreates only the services whose settings change"
)
RELOADS_NOTHING = (
    "a save during devd up reloads the configuration, which keeps the containers "
    "(a new container gets the new values)"
)
IGNORE_LIST = "a change to ignore only changes what is watched"


@dataclass(frozen=True)
class Note:
    """What ``path`` means for devd itself rather than for one service's image: ``kind`` is
    ``config`` (a configuration file) or ``ignored`` (outside the project); ``services`` are
    the services the file configures or may change (None: not known without reading it)."""

    path: str
    kind: str
    reason: str
    services: tuple[str, ...] | None = None

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {"path": self.path, "kind": self.kind, "reason": self.reason}
        if self.services is not None:
            data["services"] = list(self.services)
        return data


Row = Classification | Note


def explain(
    paths: Iterable[str],
    project: ProjectConfig,
    views: Sequence[tuple[ServiceConfig, BuildView]],
    every_service: bool = False,
) -> list[Row]:
    """The rows for project-relative ``paths``: per path, its note (if any), then one
    classification per service in ``views``; an image-only service only where the path
    concerns it (a bind mount or a develop.watch rule of it holds the path), unless
    ``every_service`` (the service was asked for by name). A path no service gets a row for
    gets a note saying so."""
    root = str(project.root)
    found: list[Row] = []
    for path in map(normalise, paths):
        rows = [
            rules.explain(path, service, view, root)
            for service, view in views
            if every_service or service.build or rules.concerns(path, service, root)
        ]
        if path == ".." or path.startswith("../"):
            rows = [row for row in rows if row.kind is not Kind.IGNORED]
            found += [_outside(path, root, imaged=bool(rows)), *rows]
            continue
        note = config_note(path, project)
        if note is None and not rows:
            note = Note(path, str(Kind.IGNORED), UNCONCERNED)
        found += [note, *rows] if note is not None else rows
    return found


UNCONCERNED = "no service builds from it, mounts it or watches it: a save does nothing"


def _outside(path: str, root: str, imaged: bool) -> Note:
    """A path outside the project; ``imaged``: a service's build context holds it."""
    where = posixpath.normpath(posixpath.join(root, path))
    reason = f"outside the project {root}/: devd up does not watch it"
    if not imaged:
        reason += "; no service's image gets it"
    return Note(where, str(Kind.IGNORED), reason)


def config_note(path: str, project: ProjectConfig) -> Note | None:
    """What saving project-relative ``path`` does to devd's configuration; None when
    ``devd up`` does not reload on it."""
    if path not in config_paths(project):
        return None
    reason, services = _compose_role(path, project) or _settings_role(path, project)
    return Note(path, "config", reason, services)


Role = tuple[str, tuple[str, ...] | None]  # the reason, and the services the file touches


def _defines(project: ProjectConfig) -> str:
    return "defines services " + ", ".join(project.services)


def _compose_role(path: str, project: ProjectConfig) -> Role | None:
    """The compose file, its ``.env`` or an env file it read; None for other paths."""
    compose = project.compose_file
    if compose is None:
        return None
    services = tuple(project.services)
    if path == relative(project.root, compose):
        return f"the compose file, {_defines(project)}: {RELOADS}", services
    merged = [relative(project.root, other) for other in project.compose_files[1:]]
    if path in merged:
        first = relative(project.root, compose)
        return f"a compose file merged over {first} (as compose merges it): {RELOADS}", services
    if path in {relative(project.root, other) for other in project.included}:
        return f"a compose file {compose.name} includes (its services join): {RELOADS}", None
    if path not in {relative(project.root, source) for source in project.sources}:
        return None
    if path == DOTENV:
        return (
            f"{compose.name} takes variables from it (any service may change): {RELOADS}",
            services,
        )
    return f"an env_file of {compose.name} (its services take the values): {RELOADS}", None


def _settings_role(path: str, project: ProjectConfig) -> Role:
    """devd.toml, pyproject.toml, and a watched name the configuration does not read now."""
    compose = project.compose_file
    if project.source.split(" ")[0] == path:  # "devd.toml" or "pyproject.toml [tool.devd]"
        reason = f"devd's settings ({project.source}), {_defines(project)}: {RELOADS}"
        return f"{reason}; {IGNORE_LIST}", tuple(project.services)
    if compose is not None and path in (CONFIG_FILE, PYPROJECT):
        settings = f"devd's settings if it has any (services there replace {compose.name}'s)"
        return f"{settings}: {RELOADS}; {IGNORE_LIST}", None
    readers = tuple(
        s.name
        for s in project.services.values()
        if s.env_file is not None and relative(project.root, s.env_file) == path
    )
    if readers:
        env_file = f"the env_file of {', '.join(readers)}, read when a container is created"
        return f"{env_file}: {RELOADS_NOTHING}", readers
    source = "devd's defaults" if project.source.startswith("(") else project.source
    return f"not read now (the configuration comes from {source}), but {RELOADS}", ()
