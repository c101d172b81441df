"""Reading a service's build definition from disk into the pure core's values.

The one place that opens the Dockerfile and the ignore files; everything it returns is plain
data for :mod:`devd.core.classify` and the planner.
"""

from __future__ import annotations

import os
from pathlib import Path

from devd.config import ProjectConfig, ServiceConfig
from devd.core import dockerfile
from devd.core.classify import BuildView
from devd.core.ignore import DOCKERIGNORE, IgnoreRules, ignore_file_for, parse_patterns
from devd.errors import ConfigError, DockerfileError


def relative(root: Path, path: Path) -> str:
    """``path`` relative to ``root``, ``/``-separated (``..`` when outside), ``""`` for root."""
    text = os.path.relpath(path, root).replace(os.sep, "/")
    return "" if text == "." else text


def ignore_file(service: ServiceConfig) -> Path:
    """The applying ignore file: ``<Dockerfile>.dockerignore`` if present, else the context's."""
    specific = Path(ignore_file_for(str(service.dockerfile)))
    return specific if specific.is_file() else service.context / DOCKERIGNORE


def read_ignore_rules(path: Path) -> IgnoreRules:
    try:
        return IgnoreRules(parse_patterns(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return IgnoreRules(())
    except (OSError, UnicodeDecodeError) as error:
        raise DockerfileError(f"{path}: cannot read ignore file: {error}") from error


def read_dockerfile(
    service: ServiceConfig, display: str, setting: str | None = None
) -> dockerfile.Dockerfile:
    """``setting`` names where the Dockerfile is configured (default: devd.toml's key)."""
    setting = setting or f"services.{service.name}.dockerfile in devd.toml"
    try:
        text = service.dockerfile.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise DockerfileError(
            f"{display}: Dockerfile of service {service.name!r} not found; "
            f"create it or set {setting}"
        ) from error
    except (OSError, UnicodeDecodeError) as error:
        raise DockerfileError(f"{display}: cannot read: {error}") from error
    return dockerfile.parse(text, display, service.build_args)


def build_view(project: ProjectConfig, service: ServiceConfig) -> BuildView:
    """Everything classification needs about ``service``, read from disk now."""
    root = project.root
    compose = project.compose_file
    key = f"services.{service.name}" + (".build" if compose else "")
    if not service.context.is_dir():
        context = relative(root, service.context)
        raise ConfigError(
            f"{compose.name + ': ' if compose else ''}{key}.context: the build context "
            f"{context}/ does not exist or is not a directory"
        )
    dockerfile_path = relative(root, service.dockerfile)
    applying = ignore_file(service)
    default_ignore = service.context / DOCKERIGNORE
    setting = f"{key}.dockerfile in {compose.name}" if compose else None
    model = read_dockerfile(service, dockerfile_path, setting)
    if service.target is not None:
        model.stage(service.target)  # raises with the list of stages when the target is unknown
    return BuildView(
        service=service.name,
        context=relative(root, service.context),
        dockerfile_path=dockerfile_path,
        dockerfile=model,
        target=service.target,
        ignore_file=relative(root, applying),
        ignore_rules=read_ignore_rules(applying),
        watch_ignore=IgnoreRules(project.ignore),
        unused_ignore_file=relative(root, default_ignore) if applying != default_ignore else None,
    )


def image_view(project: ProjectConfig, service: ServiceConfig) -> BuildView:
    """An image-only service's view: nothing of the project is built into it."""
    image = service.image or "scratch"
    return BuildView(
        service=service.name,
        context="",
        dockerfile_path="",
        dockerfile=dockerfile.parse(f"FROM {image}\n", f"image {image}", {}),
        target=None,
        ignore_file="",
        ignore_rules=IgnoreRules(()),
        watch_ignore=IgnoreRules(project.ignore),
    )


def service_view(project: ProjectConfig, service: ServiceConfig) -> BuildView:
    """``build_view`` for a service that is built, ``image_view`` for an image-only one."""
    return build_view(project, service) if service.build else image_view(project, service)


def files_under(root: Path, relative_dir: str) -> list[str]:
    """Every file (or symlink) under project-relative ``relative_dir``, project-relative;
    [] when it does not exist; just it when it is a file."""
    start = root / relative_dir if relative_dir else root
    if start.is_file() or start.is_symlink():
        return [relative(root, start)]
    found = []
    for directory, _, names in os.walk(start):
        for name in names:
            found.append(relative(root, Path(directory) / name))
    return sorted(found)
