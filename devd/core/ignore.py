"""Ignore rules: `.dockerignore` files as the engine applies them, and devd's own ignore list.

Matching is docker-py's ``PatternMatcher`` (a port of moby's ``fileutils``): anchored patterns,
``**``, ``!`` re-includes, and everything under an excluded directory is excluded. This module
only adds what a person needs to read a decision: which pattern made it.
Pure: takes the ignore file's text and paths, returns decisions.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from docker.utils.build import Pattern, PatternMatcher, split_path

DOCKERIGNORE = ".dockerignore"


def parse_patterns(text: str) -> tuple[str, ...]:
    """The patterns of an ignore file, read as docker-py reads ``.dockerignore``."""
    lines = (line.strip() for line in text.splitlines())
    return tuple(line for line in lines if line and not line.startswith("#"))


def ignore_file_for(dockerfile: str) -> str:
    """The Dockerfile-specific ignore file beside ``dockerfile`` (``<name>.dockerignore``)."""
    return f"{dockerfile}{DOCKERIGNORE}"


@dataclass(frozen=True)
class Verdict:
    """Whether a path is excluded, and the pattern that decided (``None``: no pattern matched)."""

    excluded: bool
    pattern: str | None


class IgnoreRules:
    """A list of ignore patterns with the matcher the engine's client uses."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(patterns)
        self._matcher = PatternMatcher(list(self.patterns))
        # PatternMatcher drops patterns that clean to nothing and adds "!.dockerignore":
        # the same list here, each with the text it was written as.
        written = [*self.patterns, "!" + DOCKERIGNORE]
        self._compiled = [(text, Pattern(text)) for text in written if Pattern(text).dirs]

    def verdict(self, path: str) -> Verdict:
        """Decide ``path`` (relative, ``/``-separated) as docker-py's context walk does.

        The walk skips an excluded directory with everything under it unless a ``!`` pattern
        starts with that directory, so an ancestor can exclude a path that ``matches`` alone
        would not (``**/.git`` excludes ``.git/HEAD``).
        """
        parts = path.split("/")
        for depth in range(1, len(parts)):
            ancestor = "/".join(parts[:depth])
            if self._matcher.matches(ancestor) and not self._reincluded_under(ancestor):
                return Verdict(True, self._deciding_pattern(ancestor))
        return Verdict(bool(self._matcher.matches(path)), self._deciding_pattern(path))

    def excludes(self, path: str) -> bool:
        return self.verdict(path).excluded

    def excludes_own_file(self) -> bool:
        """Whether the patterns exclude ``.dockerignore`` itself: what the engine checks
        before deleting it from the context (docker-py's matcher always keeps it)."""
        own = [(text, pattern) for text, pattern in self._compiled if text != "!" + DOCKERIGNORE]
        excluded = False
        for _, pattern in own:
            if pattern.match(DOCKERIGNORE):
                excluded = not pattern.exclusion
        return excluded

    def excludes_tree(self, directory: str) -> bool:
        """Whether ``directory`` is excluded with everything under it: it, or an ancestor,
        is excluded and no ``!`` pattern reaches into it (the walk skips it whole)."""
        parts = directory.split("/")
        for depth in range(1, len(parts) + 1):
            ancestor = "/".join(parts[:depth])
            if self._matcher.matches(ancestor) and not self._reincluded_under(ancestor):
                return True
        return False

    def _reincluded_under(self, directory: str) -> bool:
        """Whether a ``!`` pattern may re-include something under ``directory`` (walk's test)."""
        return any(
            pattern.exclusion and pattern.cleaned_pattern.startswith(directory)
            for pattern in self._matcher.patterns
        )

    def _deciding_pattern(self, path: str) -> str | None:
        """The last pattern that matches ``path`` or one of its parent directories."""
        parent_dirs = split_path(os.path.dirname(path))
        deciding = None
        for text, pattern in self._compiled:
            match = pattern.match(path)
            if not match and parent_dirs and len(pattern.dirs) <= len(parent_dirs):
                match = pattern.match("/".join(parent_dirs[: len(pattern.dirs)]))
            if match:
                deciding = text
        return deciding
