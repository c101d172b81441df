"""Building a sample project the way devd builds its service ``app``: its context, its ignore
rules, its Dockerfile's step lines, the builder given, on the real engine (BuildKit through a
session, as devd builds; ``tar=True``: the tar body of an engine without sessions)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from devd import config
from devd.core.build_result import BuildResult, LineCallback
from devd.core.builders import Builder
from devd.core.dockerfile import step_lines
from devd.engine.build_source import BuildSource
from devd.engine.engine import Engine
from devd.project import build_view


def build_like_devd(
    root: Path,
    engine: Engine,
    tag: str,
    labels: Mapping[str, str],
    *,
    builder: Builder,
    build_args: Mapping[str, str] | None = None,
    no_cache: bool = False,
    on_line: LineCallback | None = None,
    tar: bool = False,
) -> BuildResult:
    """Build ``root``'s service ``app`` (``build_args`` default: the configured ones)."""
    project = config.load(root, environ={})
    service = project.services["app"]
    view = build_view(project, service)
    source = BuildSource(
        service.context,
        service.dockerfile,
        tuple(view.ignore_rules.patterns),
        project.name,
        service.name,
        secrets=service.secrets,
        ssh=service.ssh,
    )
    if not tar:
        return engine.builds.build(
            source,
            tag=tag,
            labels=labels,
            build_args=service.build_args if build_args is None else build_args,
            target=service.target,
            no_cache=no_cache,
            builder=builder,
            lines=step_lines(view.dockerfile),
            on_line=on_line,
        )
    with source.archive(ignore_file=builder == "classic") as context:
        return engine.builds.build(
            context,
            tag=tag,
            labels=labels,
            build_args=service.build_args if build_args is None else build_args,
            target=service.target,
            no_cache=no_cache,
            builder=builder,
            lines=step_lines(view.dockerfile),
            on_line=on_line,
        )
