"""A compose file as devd's project values: services, project name, network and volumes.

:func:`load` reads the file (and ``.env`` beside it); :func:`translate` is the pure rest:
interpolation, validation and translation. Keys compose accepts but devd does not act on give
one warning each (returned, never printed); a key compose itself rejects, a wrong value, a
service with neither ``build`` nor ``image``, or a ``depends_on`` naming an unknown service or
closing a cycle is a :class:`ConfigError` naming the file and the key path.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from devd.compose.files import DOTENV, find, parse_yaml, read_dotenv, read_text
from devd.compose.interpolate import interpolate
from devd.compose.service import Context, service
from devd.compose.values import Key, Warnings, boolean, check_keys, mapping
from devd.compose.volumes import MountContext, declared
from devd.config import ExternalVolume, ServiceConfig, image_part_problem, image_safe_separators
from devd.errors import ConfigError

PROJECT_NAME_VARIABLE = "COMPOSE_PROJECT_NAME"
_TOP_SUPPORTED = frozenset({"name", "services", "volumes", "version", "networks"})
_TOP_KNOWN = frozenset({"secrets", "configs", "include", "models"})
_SERVICE_NAME = re.compile(r"^[a-zA-Z0-9._-]+$")
_PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True)
class ComposeProject:
    """What a compose file gives devd's :class:`~devd.config.ProjectConfig`."""

    file: Path
    name: str
    network: str  # the project network every service joins: <name>_default
    volumes: tuple[str, ...]  # the engine names of the named volumes the project creates
    external_volumes: tuple[ExternalVolume, ...]  # the ones it only mounts
    services: Mapping[str, ServiceConfig]
    warnings: tuple[str, ...]
    sources: tuple[Path, ...] = ()  # the files read: the compose file, .env, env files


@dataclass(frozen=True)
class Places:
    """Where things are: the compose file, the project root and the user's home (for ``~``)."""

    file: Path
    root: Path
    home: Path


def load(
    root: Path, environ: Mapping[str, str] | None = None, project: str | None = None
) -> ComposeProject | None:
    """The compose file at ``root`` (None when there is none). Variables come from
    ``environ`` (default: the process environment) over the ``.env`` beside the file;
    ``project`` (devd's own ``project`` setting) names the project when given."""
    path, found = find(root)
    if path is None:
        return None
    environ = os.environ if environ is None else environ
    variables = {**read_dotenv(path.parent, environ), **environ}
    env_files: list[Path] = []

    def read_env_file(env_file: Path) -> str | None:
        env_files.append(env_file)
        return _read_if_present(env_file)

    found_project = translate(
        read_text(path, path.name),
        Places(path, root, Path.home()),
        variables,
        read_env_file,
        project,
        found,
    )
    sources = (path, path.parent / DOTENV, *env_files)
    return replace(found_project, sources=tuple(dict.fromkeys(sources)))


def translate(
    text: str,
    places: Places,
    environ: Mapping[str, str],
    read_env_file: Callable[[Path], str | None],
    project: str | None = None,
    found: tuple[str, ...] = (),
) -> ComposeProject:
    """The compose file ``text`` (at ``places.file``) as devd's values."""
    warnings = Warnings(list(found))
    top = Key(places.file.name)
    data = interpolate(parse_yaml(text, top.file), environ, top, warnings)
    node = mapping({} if data is None else data, top)
    if "version" in node:
        warnings.unsupported(top.child("version"), "the attribute is obsolete (as in compose)")
    name = project or project_name(node, top, environ, places.root)
    _networks(node, top, f"{name}_default", warnings)
    check_keys(node, top, _TOP_SUPPORTED, _TOP_KNOWN, warnings)
    volumes = declared(node.get("volumes") or {}, top.child("volumes"), name, warnings)
    context = Context(
        file=top.file,
        root=places.root,
        mounts=MountContext(places.file.parent, places.home, volumes),
        environ=environ,
        read_env_file=read_env_file,
    )
    services = _services(node, top, context, warnings)
    return ComposeProject(
        file=places.file,
        name=name,
        network=f"{name}_default",
        volumes=tuple(volume.engine_name for volume in volumes.values() if not volume.external),
        external_volumes=tuple(
            ExternalVolume(str(top.child("volumes").child(key)), volume.engine_name)
            for key, volume in volumes.items()
            if volume.external
        ),
        services=services,
        warnings=tuple(warnings.lines),
    )


def project_name(node: Mapping[str, Any], key: Key, environ: Mapping[str, str], root: Path) -> str:
    """``COMPOSE_PROJECT_NAME`` (must already be valid, as compose insists), else the top-level
    ``name:``, else the directory's name, normalised like compose: lowercase, only
    ``[a-z0-9_-]``, starting with a letter or digit."""
    given = environ.get(PROJECT_NAME_VARIABLE)
    if given:
        if not _PROJECT_NAME.match(given):
            raise ConfigError(
                f"{PROJECT_NAME_VARIABLE}: {given!r} is not a valid project name; expected "
                "lowercase letters, digits, '-' and '_', starting with a letter or digit"
            )
        if problem := image_part_problem("project", given):
            raise ConfigError(f"{PROJECT_NAME_VARIABLE}: {problem}")
        return given
    source = key.child("name")
    raw = node.get("name")
    from_directory = raw is None
    if raw is None:
        raw, source = root.name, Key(str(root), "directory name")
    elif not isinstance(raw, str):
        raise source.error("a string", raw)
    name = re.sub(r"[^a-z0-9_-]", "", raw.lower()).lstrip("_-")
    if from_directory:  # cleaned, as devd cleans a directory's name without a compose file
        name = image_safe_separators(name)
    if not name:
        raise source.problem(f"{raw!r} gives no usable project name; expected letters or digits")
    problem = image_part_problem("project", name)
    if problem:  # devd tags what it builds devd-<project>-<service>
        raise source.problem(problem)
    return name


def _services(
    node: Mapping[str, Any], top: Key, context: Context, warnings: Warnings
) -> dict[str, ServiceConfig]:
    key = top.child("services")
    if "services" not in node:
        raise top.problem("services is missing (devd runs the services a compose file defines)")
    declared_services = mapping(node["services"], key)
    if not declared_services:
        raise key.problem("expected at least one service")
    result = {}
    for name, value in declared_services.items():
        if not _SERVICE_NAME.match(name):
            raise key.child(name).problem(
                "a service name may use only letters, digits, '.', '_' and '-'"
            )
        result[name] = service(name, value, context, warnings)
        problem = image_part_problem("service", name) if result[name].build else None
        if problem:  # devd tags what it builds devd-<project>-<service>
            raise key.child(name).problem(problem)
    _check_dependencies(result, key)
    return result


def _check_dependencies(services: Mapping[str, ServiceConfig], key: Key) -> None:
    """Every ``depends_on`` names a service of the file, and they form no cycle."""
    for name, config in services.items():
        for dependency in config.depends_on:
            if dependency.service not in services:
                known = ", ".join(services)
                raise (
                    key.child(name)
                    .child("depends_on")
                    .problem(f"unknown service {dependency.service!r} (services: {known})")
                )
    done: set[str] = set()
    for name in services:
        _visit(name, services, [], done, key)


def _visit(
    name: str, services: Mapping[str, ServiceConfig], path: list[str], done: set[str], key: Key
) -> None:
    if name in done:
        return
    if name in path:
        cycle = " -> ".join([*path[path.index(name) :], name])
        raise key.child(name).child("depends_on").problem(f"dependency cycle: {cycle}")
    for dependency in services[name].depends_on:
        _visit(dependency.service, services, [*path, name], done, key)
    done.add(name)


def _networks(node: Mapping[str, Any], top: Key, network: str, warnings: Warnings) -> None:
    """Top-level ``networks``: devd creates ``network`` for every service and no other, so any
    other network, or settings for the default one (``name``, ``external``...), is one
    warning saying so."""
    value = node.get("networks")
    if not value:
        return
    for name, settings in mapping(value, top.child("networks")).items():
        key = top.child("networks").child(name)
        if name == "default" and not settings:
            continue
        if _external(settings, key):
            hint = f"devd does not join external networks: the services join only {network}"
        elif name == "default":
            hint = f"devd creates and names the project network itself: {network}"
        else:
            hint = f"devd runs one network per project: the services join only {network}"
        warnings.unsupported(key, hint)


def _external(settings: Any, key: Key) -> bool:
    """Whether a top-level network's settings make it ``external`` (compose's values)."""
    if not isinstance(settings, Mapping) or "external" not in settings:
        return False
    value = settings["external"]
    return isinstance(value, Mapping) or boolean(value, key.child("external"))


def _read_if_present(path: Path) -> str | None:
    if not path.is_file():
        return None
    return read_text(path, str(path))
