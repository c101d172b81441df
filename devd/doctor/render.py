"""Findings for a person: one block each (where, what, cost, fix, examples), warnings first,
then a count."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from devd.doctor.findings import Finding, sort_findings


def render(findings: Sequence[Finding]) -> str:
    """Findings for a person: one block each, warnings first, then a count."""
    if not findings:
        return "devd doctor: no findings\n"
    blocks = [_render_one(finding) for finding in sort_findings(findings)]
    warnings = sum(1 for f in findings if f.level == "warning")
    infos = len(findings) - warnings
    blocks.append(f"{warnings} warning{'s' * (warnings != 1)}, {infos} info{'s' * (infos != 1)}")
    return "\n\n".join(blocks) + "\n"


def _render_one(finding: Finding) -> str:
    service = f" [{finding.service}]" if finding.service else ""
    lines = [f"{finding.level}: {finding.where}{service} ({finding.check})"]
    lines.append(_wrap("", finding.message))
    lines.append(_wrap("cost: ", finding.cost))
    lines.append(_wrap("fix:  ", finding.fix))
    if finding.paths:
        lines.append(_wrap("e.g.  ", ", ".join(finding.paths)))
    return "\n".join(lines)


def _wrap(label: str, text: str) -> str:
    return textwrap.fill(
        text,
        width=100,
        initial_indent="  " + label,
        subsequent_indent="  " + " " * len(label),
        break_long_words=False,
        break_on_hyphens=False,
    )
