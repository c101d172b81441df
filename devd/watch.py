"""Watching the project tree: the file-system adapter.

It knows nothing about containers or Dockerfiles: it yields batches of project-relative paths,
one per burst of changes (an editor's save, a ``git checkout`` of thousands of files), closed
by :class:`devd.core.debounce.Debouncer` once the tree has been quiet for ``quiet_ms``.
``relevant`` lets the caller drop paths that could never matter, so that they neither open
nor prolong a batch. ``prune`` lets it skip whole directories (a ``node_modules`` its ignore
file excludes): they get no watch at all.

On Linux devd talks to inotify itself (:class:`devd.inotify.Inotify`): one watch per directory
that is not pruned, and the thread sleeps in ``poll()`` until the kernel has an event, or until
the open batch is due, or :data:`TICK_S` has passed (to notice ``stop``). Nothing polls on the
hot path: a change is seen the moment it is made and a batch is handed over exactly
``quiet_ms`` after its last change. When the kernel refuses another watch
(``fs.inotify.max_user_watches``), a warning says so and the watcher goes on by listing the
tree every :data:`POLL_S` and comparing stamps (:func:`_watch_poll`), starting from what
inotify had seen, so nothing is lost on the way. Elsewhere watchfiles' notifier is used
(:func:`_watch_notify`), which checks for news every :data:`STEP_MS`.
"""

from __future__ import annotations

import math
import select
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import structlog

from devd import snapshot
from devd.core.debounce import Debouncer
from devd.inotify import Inotify, WatchLimitReached, warn_unreadable
from devd.project import relative

STEP_MS = 10  # watchfiles' notifier: how often it hands over what it has seen
IDLE_TIMEOUT_MS = 5_000  # watchfiles' notifier: how long one wait lasts with nothing pending
TICK_S = 0.5  # inotify: the longest sleep, after which ``stop`` and ``prune`` are looked at
POLL_S = 1.0  # polling (the inotify watch limit was reached): how often the tree is listed
_MAX_VERDICTS = 100_000

__all__ = ["Batch", "Inotify", "WatchLimitReached", "watch"]
_log = structlog.get_logger("devd")

Relevant = Callable[[str], bool]
Prune = Callable[[str], bool]


@dataclass(frozen=True)
class Batch:
    """Project-relative paths that changed together, and when the first of them was seen.

    ``final`` is False for an early look at a batch that is still open (see ``settle_ms``
    of :func:`watch`); the final batch that follows holds all its paths again.
    """

    paths: frozenset[str]
    first_seen: float  # time.monotonic()
    final: bool = True


def watch(
    root: Path,
    stop: threading.Event,
    quiet_ms: int,
    relevant: Relevant = lambda path: True,
    prune: Prune | None = None,
    settle_ms: int | None = None,
) -> Iterator[Batch]:
    """Yield a :class:`Batch` for each burst of relevant changes under ``root`` until ``stop``.

    ``prune(directory)`` (a project-relative directory, never ``""``) returning True means
    no path under it can ever be relevant: it is not watched. It is asked again about each
    pruned directory after every batch and every :data:`TICK_S` (an edited ignore file can
    bring a directory back). With ``settle_ms``, a batch that has been quiet for that long,
    with every file of it written to closed again, is also yielded early, once, with
    ``final=False`` (an editor's save is over within a millisecond or two; a checkout can
    pause for longer, so only the final batch, quiet for ``quiet_ms``, is the whole burst).
    A batch whose every path was last closed after writing or renamed into place comes
    early at once, without the settle: only a path deleted, moved away or touched waits it.
    Only the Linux watcher prunes and settles (its polling fallback prunes too).
    """
    root = root.resolve()
    if Inotify.available():
        yield from _watch_inotify(root, stop, quiet_ms, relevant, prune, settle_ms)
    else:
        yield from _watch_notify(root, stop, quiet_ms, relevant)


# --- Linux: inotify ----------------------------------------------------------------------------


def _watch_inotify(
    root: Path,
    stop: threading.Event,
    quiet_ms: int,
    relevant: Relevant,
    prune: Prune | None,
    settle_ms: int | None,
) -> Iterator[Batch]:
    """Watch with inotify; at the watch limit, warn and go on polling from what it had seen."""
    try:
        inotify = Inotify(root, prune)
    except WatchLimitReached as error:
        _warn_polling(error)
        yield from _watch_poll(root, stop, relevant, prune, None, set(), None)
        return
    debouncer = Debouncer(quiet_ms / 1000)
    with inotify:
        try:
            yield from _inotify_batches(inotify, stop, debouncer, relevant, settle_ms)
        except WatchLimitReached as error:
            inotify.close()  # gives its watches back to the others that share the limit
            _warn_polling(error)
            pending = debouncer.settled(time.monotonic(), 0.0)
            paths = set(pending.paths) if pending else set()
            first = pending.first_seen if pending else None
            yield from _watch_poll(root, stop, relevant, prune, inotify.stamps, paths, first)


def _inotify_batches(
    inotify: Inotify,
    stop: threading.Event,
    debouncer: Debouncer,
    relevant: Relevant,
    settle_ms: int | None,
) -> Iterator[Batch]:
    quiet = debouncer.quiet
    settle = None if settle_ms is None or settle_ms / 1000 >= quiet else settle_ms / 1000
    poller = select.poll()
    poller.register(inotify.fd, select.POLLIN)
    verdicts: dict[str, bool] = {}  # relevant() per path, for the open batch
    last_recheck = time.monotonic()
    early = False  # whether the open batch was yielded early already
    held = False  # settled, but a file of it is still being written: wait for news
    while not stop.is_set():
        now = time.monotonic()
        wait = debouncer.wait(now)
        if settle is not None and not (early or held) and wait is not None:
            wait = min(wait, debouncer.settle_wait(now, settle) or 0.0)
        timeout = TICK_S if wait is None else min(wait, TICK_S)
        ready = poller.poll(math.ceil(timeout * 1000))
        now = time.monotonic()
        if ready:
            debouncer.add(_relevant_only(inotify.read(), relevant, verdicts), now)
            held = False
            if debouncer.wait(now) is None or len(verdicts) > _MAX_VERDICTS:
                verdicts.clear()  # no batch open: nothing to remember them for
                inotify.forget_writes()
        closed = debouncer.due(now)
        if closed is not None:
            verdicts.clear()
            inotify.forget_writes()
            inotify.refresh(closed.paths)
            early = held = False
            yield Batch(closed.paths, closed.first_seen)
        elif settle is not None and not (early or held):
            settled = debouncer.settled(now, 0.0)
            if settled is not None and not settled.paths <= inotify.whole:
                # not a finished save (every file closed after writing or renamed into place)
                # yet: a file deleted or moved away may be an editor's safe write about to
                # put it back, so wait for the settle
                settled = settled if debouncer.settle_wait(now, settle) == 0 else None
            if settled is not None and settled.paths & inotify.writing:
                held = True  # its close (IN_CLOSE_WRITE) will wake the loop
            elif settled is not None:
                early = True
                yield Batch(settled.paths, settled.first_seen, final=False)
        if inotify.pruned and (closed is not None or now - last_recheck >= TICK_S):
            inotify.recheck_pruned()
            last_recheck = now


def _warn_polling(error: WatchLimitReached) -> None:
    _log.warning(
        f"{error}; meanwhile devd polls the tree every {POLL_S:g} s (restart devd up once the "
        "limit is raised)"
    )


def _watch_poll(
    root: Path,
    stop: threading.Event,
    relevant: Relevant,
    prune: Prune | None,
    baseline: snapshot.Snapshot | None,
    pending: set[str],
    first_seen: float | None,
) -> Iterator[Batch]:
    """List the tree every :data:`POLL_S` and compare stamps with the last listing
    (``baseline``: inotify's, so that what it had not reported yet is found). A batch is
    handed over once a listing finds nothing new; ``pending`` is one already open."""
    reported: set[str] = set()

    def enter(directory: str) -> bool:
        return not (directory and prune is not None and prune(directory))

    def unreadable(path: str, error: OSError) -> None:
        if path not in reported:
            reported.add(path)
            warn_unreadable(path, error)

    last = baseline if baseline is not None else snapshot.scan(root, enter, unreadable)
    while not stop.wait(POLL_S if not pending else min(POLL_S, 0.2)):
        now = time.monotonic()
        current = snapshot.scan(root, enter, unreadable)
        new = {path for path in snapshot.changed(last, current) if relevant(path)}
        last = current
        if new:
            pending |= new
            first_seen = now if first_seen is None else first_seen
        elif pending:
            yield Batch(frozenset(pending), first_seen if first_seen is not None else now)
            pending, first_seen = set(), None


def _relevant_only(paths: Iterable[str], relevant: Relevant, seen: dict[str, bool]) -> list[str]:
    """The relevant ones of ``paths``, asking ``relevant`` once per path (a burst repeats
    paths: each write of a file is several events)."""
    kept = []
    for path in paths:
        verdict = seen.get(path)
        if verdict is None:
            verdict = seen[path] = relevant(path)
        if verdict:
            kept.append(path)
    return kept


# --- elsewhere: watchfiles' notifier -----------------------------------------------------------


def _watch_notify(
    root: Path, stop: threading.Event, quiet_ms: int, relevant: Relevant
) -> Iterator[Batch]:
    from watchfiles._rust_notify import RustNotify

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
