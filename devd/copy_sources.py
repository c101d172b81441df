"""Which context paths a COPY/ADD source reads, and where a read path lands in the image.

The classic builder and BuildKit match sources with Go's ``filepath.Match`` against the
context: ``*``, ``?`` and ``[...]`` never cross a ``/``; a source that names (or matches) a
directory copies everything under it. Pure.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from functools import lru_cache

from devd.dockerfile import ContextSource

_GLOB_CHARS = re.compile(r"[*?\[]")


def has_glob(pattern: str) -> bool:
    return bool(_GLOB_CHARS.search(pattern))


@lru_cache(maxsize=4096)
def _component_regex(component: str) -> re.Pattern[str]:
    # Go writes a negated class as [^...]; fnmatch as [!...].
    return re.compile(fnmatch.translate(component.replace("[^", "[!")))


def _components_match(pattern: list[str], path: list[str]) -> bool:
    return len(pattern) == len(path) and all(
        _component_regex(p).match(c) is not None for p, c in zip(pattern, path, strict=True)
    )


def matched_root(source: str, path: str) -> str | None:
    """The part of ``path`` that ``source`` names (``path`` itself or a parent), or ``None``.

    ``source`` and ``path`` are context-relative; ``source == ""`` is the whole context.
    """
    if source == "":
        return ""
    if not has_glob(source):
        return source if path == source or path.startswith(source + "/") else None
    pattern = source.split("/")
    parts = path.split("/")
    if len(parts) < len(pattern):
        return None
    head = parts[: len(pattern)]
    return "/".join(head) if _components_match(pattern, head) else None


def reads(source: ContextSource, path: str) -> bool:
    """Whether a step with ``source`` copies ``path`` (honouring ``COPY --exclude``)."""
    if matched_root(source.pattern, path) is None:
        return False
    return not any(_excluded_by(pattern, path) for pattern in source.excludes)


def _excluded_by(pattern: str, path: str) -> bool:
    cleaned = pattern.strip("/")
    parts = path.split("/")
    return any(fnmatch.fnmatchcase("/".join(parts[:n]), cleaned) for n in range(1, len(parts) + 1))


def landing_path(
    source: ContextSource, destination: str, path: str, many_sources: bool
) -> str | None:
    """Where ``path`` lands in the image when copied by ``COPY source destination``.

    A directory source copies its contents into the destination; a file source goes to the
    destination itself, or into it when the destination ends with ``/`` or there are several
    sources. ``None`` when the step does not read ``path``.
    """
    root = matched_root(source.pattern, path)
    if root is None:
        return None
    if root == path:  # the source names this file itself
        into_dir = destination.endswith("/") or many_sources or has_glob(source.pattern)
        target = posixpath.join(destination, posixpath.basename(path)) if into_dir else destination
        return posixpath.normpath(target)
    relative = path[len(root) :].lstrip("/")
    return posixpath.normpath(posixpath.join(destination, relative))
