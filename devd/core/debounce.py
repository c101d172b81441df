"""Debouncing: changes are batched until the tree has been quiet for a while.

Pure and clock-driven, so its tests are instant and exact: every method takes ``now``.
A batch closes when no change has arrived for ``quiet`` seconds, or when it has been growing
for ``longest`` seconds (a change storm still gets acted on). A path saved again and again
keeps the batch open: activity, not new paths, is what counts.

A caller that wants to act on a batch early (copying a saved file into a container costs
little and can be done again) can also ask for it once it has *settled*: quiet for a much
shorter ``settle`` (:meth:`settled`). The batch stays open, and :meth:`due` still hands over
all of it once it is quiet for ``quiet``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Closed:
    """A closed batch: its paths and when its first change arrived."""

    paths: frozenset[str]
    first_seen: float


class Debouncer:
    """Collects paths; :meth:`due` hands them over once the quiet period has passed."""

    def __init__(self, quiet: float, longest: float = 60.0) -> None:
        self.quiet = quiet
        self.longest = longest
        self._paths: set[str] = set()
        self._first: float | None = None
        self._last: float | None = None

    def add(self, paths: Iterable[str], now: float) -> None:
        """Record activity at ``now``; ``paths`` may be empty (activity on ignored paths
        is not recorded: the caller drops it before)."""
        new = set(paths)
        if not new:
            return
        self._paths |= new
        self._first = now if self._first is None else self._first
        self._last = now

    def wait(self, now: float) -> float | None:
        """Seconds until the open batch is due (0 when it is); ``None`` when nothing is open."""
        if self._first is None or self._last is None:
            return None
        deadline = min(self._last + self.quiet, self._first + self.longest)
        return max(0.0, deadline - now)

    def settle_wait(self, now: float, settle: float) -> float | None:
        """Seconds until the open batch has been quiet for ``settle`` (0 when it has);
        ``None`` when nothing is open."""
        if self._last is None:
            return None
        return max(0.0, self._last + settle - now)

    def settled(self, now: float, settle: float) -> Closed | None:
        """The open batch so far, if it has been quiet for ``settle`` at ``now`` (it stays
        open)."""
        remaining = self.settle_wait(now, settle)
        if remaining is None or remaining > 0 or self._first is None:
            return None
        return Closed(frozenset(self._paths), self._first)

    def due(self, now: float) -> Closed | None:
        """The batch, if it is due at ``now`` (the debouncer is then empty again)."""
        remaining = self.wait(now)
        if remaining is None or remaining > 0 or self._first is None:
            return None
        closed = Closed(frozenset(self._paths), self._first)
        self._paths, self._first, self._last = set(), None, None
        return closed
