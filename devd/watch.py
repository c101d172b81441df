"""Watching the project tree: the file-system adapter over watchfiles.

It knows nothing about containers or Dockerfiles: it yields batches of project-relative paths,
one batch per burst of changes (an editor's save, a ``git checkout`` of thousands of files),
closed once the tree has been quiet for ``quiet_ms``. The batching itself is watchfiles'
(``step`` is the quiet period, ``debounce`` the longest a burst may grow); ``relevant`` lets the
caller drop paths that could never matter before they count as activity for the daemon.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import watchfiles

from devd.project import relative

MAX_BURST_MS = 60_000  # a burst of changes this long is cut into batches anyway


@dataclass(frozen=True)
class Batch:
    """Project-relative paths that changed together, and when devd first heard of them."""

    paths: frozenset[str]
    received: float  # time.monotonic() when the batch was handed over
    quiet_ms: int

    @property
    def first_seen(self) -> float:
        """Earliest the first change can have happened: before the quiet period ran out."""
        return self.received - self.quiet_ms / 1000


def watch(
    root: Path,
    stop: threading.Event,
    quiet_ms: int,
    relevant: Callable[[str], bool] = lambda path: True,
) -> Iterator[Batch]:
    """Yield a :class:`Batch` for each burst of relevant changes under ``root`` until ``stop``."""
    root = root.resolve()

    def keep(change: watchfiles.Change, path: str) -> bool:
        return relevant(relative(root, Path(path)))

    for changes in watchfiles.watch(
        root,
        watch_filter=keep,
        debounce=MAX_BURST_MS,
        step=max(quiet_ms, 1),
        stop_event=stop,
        raise_interrupt=False,
        ignore_permission_denied=True,
    ):
        paths = frozenset(relative(root, Path(path)) for _, path in changes)
        yield Batch(paths, time.monotonic(), quiet_ms)
