"""Watching the project tree: the file-system adapter over watchfiles' Rust notifier.

It knows nothing about containers or Dockerfiles: it yields batches of project-relative paths,
one per burst of changes (an editor's save, a ``git checkout`` of thousands of files), closed
by :class:`devd.debounce.Debouncer` once the tree has been quiet for ``quiet_ms``.
``relevant`` lets the caller drop paths that could never matter, so that they neither open
nor prolong a batch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from watchfiles._rust_notify import RustNotify

from devd.debounce import Debouncer
from devd.project import relative

STEP_MS = 10  # how often the notifier hands over what it has seen while changes arrive
IDLE_TIMEOUT_MS = 5_000  # how long one wait lasts with nothing pending (then loop again)


@dataclass(frozen=True)
class Batch:
    """Project-relative paths that changed together, and when the first of them was seen."""

    paths: frozenset[str]
    first_seen: float  # time.monotonic()


def watch(
    root: Path,
    stop: threading.Event,
    quiet_ms: int,
    relevant: Callable[[str], bool] = lambda path: True,
) -> Iterator[Batch]:
    """Yield a :class:`Batch` for each burst of relevant changes under ``root`` until ``stop``."""
    root = root.resolve()
    debouncer = Debouncer(quiet_ms / 1000)
    with RustNotify([str(root)], False, False, 300, True, True) as notifier:
        while not stop.is_set():
            wait = debouncer.wait(time.monotonic())
            timeout_ms = IDLE_TIMEOUT_MS if wait is None else max(1, round(wait * 1000))
            raw = notifier.watch(STEP_MS, STEP_MS, timeout_ms, stop)
            if raw == "stop":
                return
            now = time.monotonic()
            if isinstance(raw, set):
                paths = (relative(root, Path(path)) for _, path in raw)
                debouncer.add((path for path in paths if relevant(path)), now)
            closed = debouncer.due(now)
            if closed is not None:
                yield Batch(closed.paths, closed.first_seen)
