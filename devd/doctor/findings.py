"""What a check returns: a Finding (where, what is wrong, its cost, the fix), how findings are
ordered, what they mean for the exit status, and the words they share for sizes and counts."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Level = Literal["warning", "info"]

EXAMPLES = 5
"""Paths (or entries) a finding shows."""


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One diagnosis: what is wrong (``message``), what it costs the developer, the fix."""

    check: str
    level: Level
    file: str  # project-relative
    line: int | None = None
    message: str
    cost: str
    fix: str
    paths: tuple[str, ...] = ()  # examples, project-relative
    service: str | None = None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {key: getattr(self, key) for key in self.__dataclass_fields__}
        data["paths"] = list(self.paths)
        return data


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Warnings first, then by service, file and line."""
    return sorted(
        findings,
        key=lambda f: (f.level != "warning", f.service or "", f.file, f.line or 0, f.check),
    )


def exit_code(findings: Iterable[Finding]) -> int:
    """1 when any finding is a warning (``devd doctor`` guards CI), else 0."""
    return 1 if any(finding.level == "warning" for finding in findings) else 0


def to_json(findings: Iterable[Finding]) -> str:
    return json.dumps([finding.as_dict() for finding in findings], indent=2)


def human_size(size: int) -> str:
    """Decimal units, as ``docker`` prints them: ``512 B``, ``9.8 kB``, ``289.3 MB``."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def count_files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"
