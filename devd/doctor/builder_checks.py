"""The check on what this engine's builder can build: the Dockerfile's BuildKit-only
features (``RUN --mount``, ``COPY --chmod``/``--link``, heredocs, the automatic platform
ARGs) against the builder devd will use and the engine's version, and the ``# syntax=``
directive. It names the line and what would build it (devd.core.builders decides)."""

from __future__ import annotations

from devd.core import builders
from devd.core.builders import Builder
from devd.core.classify import BuildView
from devd.doctor.findings import Finding


def check_builder(
    view: BuildView, builder: Builder | None, engine_major: int | None
) -> list[Finding]:
    """A warning per feature ``builder`` lacks (the build would fail), and an info on
    ``# syntax=``. ``builder`` None (``auto`` with no engine to ask): nothing to say."""
    if builder is None:
        return []
    findings = [
        Finding(
            check="builder-feature",
            level="warning",
            file=view.dockerfile_path,
            line=problem.instruction.line,
            message=f"`{problem.instruction.display[:70]}`: {problem.feature}",
            cost=f"the {builder} builder cannot build this line: every build fails here",
            fix=problem.remedy,
        )
        for problem in builders.unsupported(view.dockerfile, builder, engine_major)
    ]
    if view.dockerfile.syntax is not None:
        findings.append(_syntax_finding(view, builder))
    return findings


def _syntax_finding(view: BuildView, builder: Builder) -> Finding:
    image = view.dockerfile.syntax
    if builder == "classic":
        cost = "none: the classic builder ignores the directive and uses its own parser"
        fix = 'nothing needed; builder = "auto" or "buildkit" would honour it'
    else:
        cost = (
            f"BuildKit fetches the frontend image {image} from its registry at each build "
            "(through devd's session, with your Docker config's credentials); where no "
            "registry can be reached the build fails, and devd says so in one line"
        )
        fix = "nothing needed with a registry; without one, drop the line (the engine's own)"
    return Finding(
        check="builder-syntax",
        level="info",
        file=view.dockerfile_path,
        line=1,
        message=f"`# syntax={image}` asks for another Dockerfile frontend",
        cost=cost,
        fix=fix,
    )
