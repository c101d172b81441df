"""The I/O edge of ``devd doctor``: read each service's facts from disk, devd's build record
and the engine, then hand them to the pure checks."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from itertools import islice
from pathlib import Path
from typing import Any

import docker.errors
import requests.exceptions
from docker.utils.build import walk

from devd.commands import select
from devd.config import ProjectConfig, ServiceConfig
from devd.core import builders
from devd.core.builders import Builder
from devd.core.classify import BuildView
from devd.daemon.names import image_tag
from devd.doctor.checks import diagnose
from devd.doctor.context_checks import is_env_file
from devd.doctor.facts import ContextFile, ContextListing, ImageFacts, Layer, ServiceFacts
from devd.doctor.findings import Finding, sort_findings
from devd.engine.engine import Engine
from devd.errors import DevdError, DockerfileError, one_line
from devd.project import build_view, ignore_file, relative
from devd.state import BuildRecord, state_dir

WALK_LIMIT = 100_000
"""Entries (files and directories) the context walk looks at before it stops."""

_ENGINE_ERRORS: tuple[type[BaseException], ...] = (
    docker.errors.DockerException,
    requests.exceptions.RequestException,
    OSError,
)


def run_doctor(project: ProjectConfig, engine: Engine | None, services: list[str]) -> list[Finding]:
    """Diagnose ``services`` (all when empty) of ``project``; ``engine`` None skips layers.

    Raises ConfigError for an unknown service, DockerfileError for a Dockerfile or ignore file
    that cannot be read.
    """
    findings: list[Finding] = []
    for name in select(project, services):
        if not project.services[name].build:
            continue  # an image-only compose service: devd builds nothing to diagnose
        findings.extend(diagnose(gather(project, project.services[name], engine)))
    return sort_findings(findings)


def gather(
    project: ProjectConfig,
    service: ServiceConfig,
    engine: Engine | None,
    *,
    walk_limit: int = WALK_LIMIT,
) -> ServiceFacts:
    """The facts the checks need about ``service``, read now."""
    view = build_view(project, service)
    context = walk_context(
        service.context, view.ignore_rules.patterns, service.dockerfile, walk_limit
    )
    builder, major = _builder(service, view, engine)
    return ServiceFacts(
        view=view,
        builder=builder,
        engine_major=major,
        ignore_text=_read_ignore_text(ignore_file(service)),
        context=context,
        env_texts={
            f.path: _read_small_text(service.context / f.path)
            for f in context.files
            if is_env_file(f.path)
        },
        cycles=tuple(BuildRecord(state_dir(project.name, project.root)).cycles(service.name)),
        image=image_facts(engine, image_tag(project.name, service.name)),
        dockerfile_no_cache=service.dockerfile_no_cache,
        config_source=project.source,
    )


def _builder(
    service: ServiceConfig, view: BuildView, engine: Engine | None
) -> tuple[Builder | None, int | None]:
    """The builder devd will use for ``service`` and, when what it can build depends on it,
    the engine's major version; the choice as configured when there is no engine to ask."""
    if engine is None:
        return (None if service.builder == "auto" else service.builder), None
    builder = engine.builds.builder(service.builder)
    if builder != "buildkit" or not builders.asks_frontend(view.dockerfile):
        return builder, None
    try:
        return builder, engine.transport.major_version()
    except DevdError:
        return builder, None


def _read_small_text(path: Path, limit: int = 64 * 1024) -> str | None:
    """The text of a small file; None when it is big, binary or unreadable."""
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
        return None if len(data) > limit else data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _read_ignore_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise DockerfileError(f"{path}: cannot read ignore file: {error}") from error


def walk_context(
    context: Path, patterns: Sequence[str], dockerfile: Path, limit: int = WALK_LIMIT
) -> ContextListing:
    """The regular files the engine would receive from ``context`` under ``patterns``, with
    their sizes: docker-py's own walk (symlinks are not followed), stopped after ``limit``
    entries."""
    root = context.resolve()
    rules = list(patterns)
    placed = dockerfile.resolve()
    if placed.is_relative_to(root):
        rules.append("!" + relative(root, placed))  # the Dockerfile is always sent
    files: list[ContextFile] = []
    entries = walk(str(root), rules)
    try:
        for count, path in enumerate(islice(entries, limit + 1)):
            if count == limit:
                return ContextListing(tuple(files), truncated=True)
            status = os.lstat(root / path)
            if stat.S_ISREG(status.st_mode):
                files.append(ContextFile(path.replace(os.sep, "/"), status.st_size))
    except OSError as error:
        return ContextListing(tuple(files), error=one_line(str(error)))
    return ContextListing(tuple(files))


def image_facts(engine: Engine | None, tag: str) -> ImageFacts:
    """The layer history of image ``tag`` (``docker history``), if the engine has it."""
    if engine is None:
        return ImageFacts(tag, None, problem="no Docker engine to ask")
    try:
        history = engine.client.api.history(tag)
    except docker.errors.NotFound:
        return ImageFacts(tag, None)
    except _ENGINE_ERRORS as error:
        return ImageFacts(tag, None, problem=one_line(str(error)))
    return ImageFacts(tag, tuple(_layer(entry) for entry in history))


def _layer(entry: Any) -> Layer:
    size = entry.get("Size") if isinstance(entry, dict) else None
    created_by = entry.get("CreatedBy") if isinstance(entry, dict) else None
    return Layer(str(created_by or ""), size if isinstance(size, int) else 0)
