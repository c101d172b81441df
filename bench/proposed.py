"""``python -m bench.proposed ARGS``: devd with the changes proposed for devd/daemon.py patched
in at run time, so that the benchmark can measure them side by side with devd as it is
(the ``devd+proposed`` contender). Each patch is skipped once daemon.py has its own version.

* ``prune``: the watcher gets ``prune``: a directory that every service ignores as a whole
  (its ignore file or devd's ignore list excludes it and nothing under it is re-included,
  or it lies outside every build context, and no Dockerfile or ignore file is under it)
  gets no inotify watch;
* ``early``: the build's ``on_labels`` hook stops the old container while the engine writes
  the build labels (every Dockerfile step has succeeded by then); a build that still fails
  starts it again;
* ``settle``: the watcher also yields each batch early (``final=False``) once it has been
  quiet for :data:`SETTLE_MS`; for a service whose ``code_action`` is ``sync`` or
  ``sync-restart`` a batch of code changes is then copied in at once (no restart), and the
  final batch does the rest (``put_files`` does not send a file again that did not change).

DEVD_PROPOSED (a comma-separated list, default ``prune,early,settle``) picks the patches.
"""

from __future__ import annotations

import inspect
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from devd import classify, daemon
from devd.classify import BuildView, normalise
from devd.context import build_context
from devd.engine import owner_labels
from devd.errors import BuildFailed
from devd.ignore import IgnoreRules
from devd.plan import Action, plan
from devd.watch import Batch, watch


def _tree_excluded(rules: IgnoreRules, directory: str) -> bool:
    """Whether ``rules`` exclude ``directory`` with everything under it (docker-py's walk
    skips an excluded directory unless a ``!`` pattern reaches into it)."""
    parts = directory.split("/")
    for depth in range(1, len(parts) + 1):
        ancestor = "/".join(parts[:depth])
        if rules._matcher.matches(ancestor) and not rules._reincluded_under(ancestor):
            return True
    return False


def subtree_ignored(directory: str, view: BuildView) -> bool:
    """Whether every path under ``directory`` (project-relative) is ignored for ``view``."""
    directory = normalise(directory)
    below = directory + "/"
    for name in (view.dockerfile_path, view.ignore_file, view.unused_ignore_file):
        if name and (name == directory or name.startswith(below)):
            return False
    if _tree_excluded(view.watch_ignore, directory):
        return True
    inside = classify._within(directory, view.context)
    if inside is None:  # outside the context, unless the context lies under it
        return not (view.context == directory or view.context.startswith(below))
    return inside != "" and _tree_excluded(view.ignore_rules, inside)


def _prunable(self: daemon.Daemon, directory: str) -> bool:
    services = list(self.services.values())
    return bool(services) and all(subtree_ignored(directory, r.view) for r in services)


SETTLE_MS = 3  # an editor's save is over within a millisecond or two


def _watch_with(prune: bool, settle: bool) -> Callable[[daemon.Daemon], None]:
    def _watch(self: daemon.Daemon) -> None:
        for batch in watch(
            self.project.root,
            self.stop,
            self.project.debounce_ms,
            self._relevant,
            prune=self._prunable if prune else None,  # type: ignore[attr-defined]
            settle_ms=SETTLE_MS if settle else None,
        ):
            self.batches.put(batch)

    return _watch


_final_plan = daemon.Daemon._plan


def _plan(self: daemon.Daemon, runtime: Any, batch: Batch) -> None:
    """Daemon._plan, and for an early batch: copy code changes into sync services now."""
    if batch.final:
        _final_plan(self, runtime, batch)
        return
    service = runtime.config
    if service.code_action not in ("sync", "sync-restart"):
        return
    changes = [classify.classify(path, runtime.view) for path in sorted(batch.paths)]
    work = plan(changes, "sync", service.dockerfile_no_cache, now=batch.first_seen)
    if work.action is Action.SYNC:
        self._submit(runtime, work)


def build_image(self: daemon.Daemon, runtime: Any, no_cache: bool) -> Any:
    """Daemon.build_image, stopping the old container once only the label steps are left."""
    service = runtime.config
    current = runtime.container
    early: list[threading.Thread] = []

    def on_labels() -> None:
        if current is None or current.status != "running":
            return
        runtime.retiring.add(current.id)
        thread = threading.Thread(
            target=self.engine.stop_container,
            args=(current.id, service.stop_timeout),
            daemon=True,
            name=f"retire-{service.name}",
        )
        early.append(thread)
        thread.start()

    on_line: Callable[[str], None] | None = None
    if self.project.verbose:
        on_line = lambda line: self.out.line(service.name, line, stream="build")  # noqa: E731
    try:
        with build_context(
            service.context, service.dockerfile, runtime.view.ignore_rules.patterns
        ) as context:
            return self.engine.build(
                context,
                tag=daemon.image_tag(self.project.name, service.name),
                labels=owner_labels(self.project.name, service.name),
                build_args=service.build_args,
                target=service.target,
                no_cache=no_cache,
                on_line=on_line,
                on_labels=on_labels,
            )
    except BuildFailed:
        if early:  # failed after its last Dockerfile step: the old container runs again
            early[0].join()
            runtime.retiring.discard(current.id)
            runtime.container = self.engine.start_container(current.id)
            self._follow_once(runtime, runtime.container, again=True)
        raise
    finally:
        for thread in early:
            thread.join()


def apply(patches: set[str]) -> list[str]:
    """Patch daemon.Daemon; the patches applied (those daemon.py lacks)."""
    applied = []
    watching = inspect.getsource(daemon.Daemon._watch)
    prune = "prune" in patches and "prune=" not in watching
    settle = "settle" in patches and "settle_ms=" not in watching
    if prune:
        daemon.Daemon._prunable = _prunable  # type: ignore[attr-defined]
        applied.append("prune")
    if settle:
        daemon.Daemon._plan = _plan  # type: ignore[method-assign]
        applied.append("settle")
    if prune or settle:
        daemon.Daemon._watch = _watch_with(prune, settle)  # type: ignore[method-assign,assignment]
    if "early" in patches and "on_labels" not in inspect.getsource(daemon.Daemon.build_image):
        daemon.Daemon.build_image = build_image  # type: ignore[method-assign]
        applied.append("early")
    return applied


def main() -> int:
    from devd.cli import main as devd_main

    apply(set(filter(None, os.environ.get("DEVD_PROPOSED", "prune,early,settle").split(","))))
    sys.argv[0] = "devd"
    return devd_main()


if __name__ == "__main__":
    raise SystemExit(main())
