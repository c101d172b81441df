"""The check on devd's own build record: a dependency manifest that changes on nearly every
build, so nearly every save re-runs the package install."""

from __future__ import annotations

import posixpath
from collections import Counter
from collections.abc import Sequence

from devd.core.classify import BuildView, Kind, classify
from devd.doctor.findings import EXAMPLES, Finding
from devd.doctor.steps import is_manifest
from devd.state import Cycle

CHURN_WINDOW = 20
"""How many recent change-triggered cycles the manifest-churn check looks at."""
CHURN_MIN = 3
"""Dependency rebuilds (and at least half the window) that make a manifest suspicious."""


def check_manifest_churn(view: BuildView, cycles: Sequence[Cycle]) -> list[Finding]:
    """Dependency rebuilds in at least half of the recent cycles (and at least CHURN_MIN)."""
    recent = [c for c in cycles if c.kind in ("code", "dependency", "dockerfile")]
    recent = recent[-CHURN_WINDOW:]
    dependency = [c for c in recent if c.kind == "dependency"]
    if len(dependency) < CHURN_MIN or 2 * len(dependency) < len(recent):
        return []
    counts = Counter(path for cycle in dependency for path in set(cycle.paths))
    if not counts:
        return []
    top = counts.most_common(EXAMPLES)
    path, times = top[0]
    others = ", ".join(f"{p} ({n})" for p, n in top[1:])
    current = classify(path, view)
    reruns = (
        f"re-runs Dockerfile line {current.run_line} `{current.run_instruction}`"
        if current.kind is Kind.DEPENDENCY
        else "re-ran the install step"
    )
    if is_manifest(path):
        fix = (
            f"find what rewrites {path} on every save (a `pip freeze > {posixpath.basename(path)}`"
            " hook, a generator writing timestamps or unsorted output, a formatter) and write it "
            "only when the dependencies change"
        )
    else:
        fix = (
            f"{path} is not a dependency manifest: it counts as one because the Dockerfile "
            "copies it before an install step; copy it after the install"
        )
    return [
        Finding(
            check="manifest-churn",
            level="warning",
            file=path,
            message=(
                f"{len(dependency)} of the last {len(recent)} rebuilds were dependency rebuilds; "
                f"{path} triggered {times} of them" + (f" (also: {others})" if others else "")
            ),
            cost=f"each one {reruns} instead of using the cache",
            fix=fix,
            paths=tuple(p for p, _ in top),
        )
    ]
