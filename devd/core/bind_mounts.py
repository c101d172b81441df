"""Bind mounts: the project paths that reach a service's container through a mount of it.

A file under the host source of a bind mount (``./app:/usr/src/app``) is already in the
container the moment it is saved, as it is under ``docker compose``: for that service there is
nothing to build, copy or restart, and files the container writes there itself (a SQLite
database, uploads) must not start anything. What the watcher and the planner do with that is
:mod:`devd.core.rules`'s; this module only says which mount a path comes through. Pure.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from devd.config import ServiceConfig


@dataclass(frozen=True)
class BindMount:
    """A bind mount of a service whose source is inside the project: ``source`` is
    project-relative posix (``""``: the project root itself)."""

    source: str
    target: str
    read_only: bool = False

    @property
    def display(self) -> str:
        """As a compose file writes it: ``./app:/usr/src/app`` (``:ro`` when read-only)."""
        source = f"./{self.source}" if self.source else "."
        return f"{source}:{self.target}" + (":ro" if self.read_only else "")


def bind_mounts(service: ServiceConfig, root: str) -> tuple[BindMount, ...]:
    """The service's bind mounts whose source is inside the project at ``root``."""
    found = []
    for mount in service.volumes:
        if mount.kind != "bind":
            continue
        relative = posixpath.relpath(posixpath.normpath(mount.source), root)
        if relative == ".." or relative.startswith("../"):
            continue
        found.append(BindMount("" if relative == "." else relative, mount.target, mount.read_only))
    return tuple(found)


def reaching(path: str, service: ServiceConfig, root: str) -> BindMount | None:
    """The bind mount through which project-relative ``path`` (a file or a directory) reaches
    the service's container: the one with the deepest source holding it; None if none does."""
    if path == ".." or path.startswith("../"):
        return None
    best: BindMount | None = None
    for mount in bind_mounts(service, root):
        inside = not mount.source or path == mount.source or path.startswith(mount.source + "/")
        if inside and (best is None or len(mount.source) > len(best.source)):
            best = mount
    return best
