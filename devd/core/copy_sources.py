"""Which context paths a COPY/ADD source reads, and where a read path lands in the image.

The classic builder and BuildKit match sources with Go's ``filepath.Match`` against the
context: ``*``, ``?`` and ``[...]`` never cross a ``/``; a source that names (or matches) a
directory copies everything under it. Pure.
"""

from __future__ import annotations

import posixpath
import re
from functools import lru_cache

from devd.core.dockerfile import ContextSource

_GLOB_CHARS = re.compile(r"[*?\[]")


def has_glob(pattern: str) -> bool:
    return bool(_GLOB_CHARS.search(pattern))


@lru_cache(maxsize=4096)
def _component_regex(component: str) -> re.Pattern[str]:
    """One path component of a Go ``filepath.Match`` pattern as a regular expression.

    Unlike fnmatch, Go negates a class with ``[^...]`` only (``[!...]`` holds a literal
    ``!``) and ``\\`` escapes the next character.
    """
    out: list[str] = []
    i, n = 0, len(component)
    while i < n:
        char = component[i]
        i += 1
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\" and i < n:
            out.append(re.escape(component[i]))
            i += 1
        elif char == "[" and (end := _class_end(component, i)) is not None:
            negated = component[i] == "^"
            body = component[i + 1 if negated else i : end]
            out.append("[" + ("^" if negated else "") + _class_body(body) + "]")
            i = end + 1
        else:
            out.append(re.escape(char))
    return re.compile("(?s:" + "".join(out) + r")\Z")


def _class_end(component: str, start: int) -> int | None:
    """Index of the ``]`` closing the class whose body starts at ``start`` (None: unclosed)."""
    i = start + 1 if component[start : start + 1] == "^" else start
    first = i
    while i < len(component):
        if component[i] == "\\":
            i += 2
            continue
        if component[i] == "]" and i > first:
            return i
        i += 1
    return None


def _class_body(body: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            i += 1
            out.append(re.escape(body[i]))
        else:
            out.append("-" if body[i] == "-" else re.escape(body[i]))
        i += 1
    return "".join(out)


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
    """Whether a step with ``source`` copies ``path`` (honouring ``COPY --exclude``).

    BuildKit matches ``--exclude`` patterns with the ``.dockerignore`` rules (``*`` stays
    within one component, ``**`` spans any number) against each path relative to the source
    it is copied from, and excludes everything under a matching directory. The source itself
    (a file it names or a wildcard matches) is not tested: moby/buildkit#5489.
    """
    root = matched_root(source.pattern, path)
    if root is None:
        return False
    relative = path[len(root) :].lstrip("/")
    return not relative or not any(_excluded_by(p, relative) for p in source.excludes)


def _excluded_by(pattern: str, relative: str) -> bool:
    cleaned = posixpath.normpath("/" + pattern).lstrip("/")
    if not cleaned:
        return False
    wanted = cleaned.split("/")
    parts = relative.split("/")
    return any(_pattern_matches(wanted, parts[:n]) for n in range(1, len(parts) + 1))


def _pattern_matches(pattern: list[str], parts: list[str]) -> bool:
    """Whether ``pattern`` (components, ``**`` for any number of them) matches all of ``parts``."""
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_pattern_matches(pattern[1:], parts[i:]) for i in range(len(parts) + 1))
    return (
        bool(parts)
        and _component_regex(pattern[0]).match(parts[0]) is not None
        and _pattern_matches(pattern[1:], parts[1:])
    )


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
