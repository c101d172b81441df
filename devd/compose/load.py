"""Compose files as devd's project values: services, project name, network and volumes.

:func:`load` chooses the files as compose does (``-f``, ``COMPOSE_FILE``, or the file and
its override file at the root; :mod:`devd.compose.files`), reads each with its ``include:``
(and the ``.env`` that interpolates them; :mod:`devd.compose.model`), and merges them as
compose does (:mod:`devd.compose.merge`);
:func:`translate` is the pure rest: validation, profiles and translation. Keys compose accepts
but devd does not act on give one warning each (returned, never printed); a key compose
itself rejects, a wrong value, a service with neither ``build`` nor ``image``, or a
``depends_on`` naming an unknown service, a service of an inactive profile or closing a cycle
is a :class:`ConfigError` naming the file and the key path.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from devd.compose.files import DOTENV, choose, parse_dotenv, read_dotenv, read_text
from devd.compose.model import Reader
from devd.compose.service import Context, service
from devd.compose.values import Key, Warnings, boolean, check_keys, mapping, strings
from devd.compose.volumes import MountContext, declared
from devd.config import ExternalVolume, ServiceConfig, image_part_problem, image_safe_separators
from devd.errors import ConfigError

PROJECT_NAME_VARIABLE = "COMPOSE_PROJECT_NAME"
PROFILES_VARIABLE = "COMPOSE_PROFILES"
_TOP_SUPPORTED = frozenset({"name", "services", "volumes", "version", "networks", "secrets"})
_TOP_KNOWN = frozenset({"configs", "models"})  # include: read by devd.compose.model
_SERVICE_NAME = re.compile(r"^[a-zA-Z0-9._-]+$")
_PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True)
class ComposeProject:
    """What compose files give devd's :class:`~devd.config.ProjectConfig`."""

    file: Path  # the first file (its directory is the one relative paths start from)
    name: str
    network: str  # the project network every service joins: <name>_default
    volumes: tuple[str, ...]  # the engine names of the named volumes the project creates
    external_volumes: tuple[ExternalVolume, ...]  # the ones it only mounts
    services: Mapping[str, ServiceConfig]
    warnings: tuple[str, ...]
    sources: tuple[Path, ...] = ()  # the files read: the compose files, .env, env files
    files: tuple[Path, ...] = ()  # the compose files merged, first to last
    inactive: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # service: profiles
    problems: tuple[str, ...] = ()  # what stops devd up, not devd explain: missing env files
    included: tuple[Path, ...] = ()  # the compose files include: brought in


@dataclass(frozen=True)
class Places:
    """Where things are: the first compose file (relative paths start from its directory),
    the project root and the user's home (for ``~``)."""

    file: Path
    root: Path
    home: Path


def load(
    root: Path,
    environ: Mapping[str, str] | None = None,
    project: str | None = None,
    files: Sequence[Path] = (),
    profiles: Sequence[str] | None = None,
) -> ComposeProject | None:
    """The compose project at ``root`` (None when it has no compose file). ``files`` are the
    ``-f`` files; variables come from ``environ`` (default: the process environment) over the
    ``.env``; ``project`` (devd's own ``project`` setting) names the project when given;
    ``profiles`` (``--profile``) replace ``COMPOSE_PROFILES``."""
    environ = os.environ if environ is None else environ
    found = choose(root, files, {} if files else {**read_dotenv(root, environ), **environ})
    if found is None:
        return None
    variables = {**read_dotenv(found.dotenv_dir, environ), **environ}
    env_files: list[Path] = []

    def read_env_file(env_file: Path) -> str | None:
        env_files.append(env_file)
        return _read_if_present(env_file)

    warnings = Warnings(list(found.warnings))
    reader = Reader(root, read_text, _dotenv_file, warnings)
    node, top = reader.model(found.files, variables)
    found_project = translate(
        node,
        top,
        Places(found.files[0], root, Path.home()),
        variables,
        read_env_file,
        project,
        warnings,
        _profiles(profiles, variables),
    )
    sources = (*reader.read, found.dotenv_dir / DOTENV, *env_files)
    return replace(
        found_project,
        sources=tuple(dict.fromkeys(sources)),
        files=tuple(found.files),
        included=tuple(dict.fromkeys(reader.included)),
    )


def _dotenv_file(path: Path, environ: Mapping[str, str]) -> dict[str, str] | None:
    """An included project's ``.env`` (None when there is none)."""
    if not path.is_file():
        return None
    return parse_dotenv(read_text(path, str(path)), str(path), environ)


def _profiles(given: Sequence[str] | None, variables: Mapping[str, str]) -> tuple[str, ...]:
    """The active profiles: ``--profile`` when given, else ``COMPOSE_PROFILES`` (commas)."""
    if given:
        return tuple(given)
    listed = variables.get(PROFILES_VARIABLE, "")
    return tuple(part.strip() for part in listed.split(",") if part.strip())


def translate(
    node: Mapping[str, Any],
    top: Key,
    places: Places,
    environ: Mapping[str, str],
    read_env_file: Callable[[Path], str | None],
    project: str | None = None,
    warnings: Warnings | None = None,
    profiles: tuple[str, ...] = (),
) -> ComposeProject:
    """The merged compose files (``node``, under ``top``; the first file at ``places.file``)
    as devd's values."""
    warnings = warnings or Warnings()
    if "version" in node:
        warnings.unsupported(top.child("version"), "the attribute is obsolete (as in compose)")
    name = project or project_name(node, top, environ, places.file.parent)
    _networks(node, top, f"{name}_default", warnings)
    check_keys(node, top, _TOP_SUPPORTED, _TOP_KNOWN, warnings)
    volumes = declared(node.get("volumes") or {}, top.child("volumes"), name, warnings)
    context = Context(
        key=top.child("services"),
        root=places.root,
        mounts=MountContext(places.file.parent, places.home, volumes),
        environ=environ,
        read_env_file=read_env_file,
        secrets=_declared_secrets(node.get("secrets"), top.child("secrets")),
        secrets_key=top.child("secrets"),
    )
    services, inactive = _services(node, top, context, profiles, warnings)
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
        inactive=inactive,
        problems=tuple(warnings.problems),
    )


def _declared_secrets(value: Any, key: Key) -> Mapping[str, Any]:
    """The top-level ``secrets:`` (what ``build.secrets`` may name)."""
    return {} if value is None else mapping(value, key)


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
    node: Mapping[str, Any],
    top: Key,
    context: Context,
    profiles: tuple[str, ...],
    warnings: Warnings,
) -> tuple[dict[str, ServiceConfig], dict[str, tuple[str, ...]]]:
    """The services of the active profiles, and the others with their profiles (a service
    without ``profiles`` is always active; ``*`` activates every profile)."""
    key = top.child("services")
    if "services" not in node:
        raise top.problem("services is missing (devd runs the services a compose file defines)")
    declared_services = mapping(node["services"], key)
    if not declared_services:
        raise key.problem("expected at least one service")
    result = {}
    inactive: dict[str, tuple[str, ...]] = {}
    for name, value in declared_services.items():
        if not _SERVICE_NAME.match(name):
            raise key.child(name).problem(
                "a service name may use only letters, digits, '.', '_' and '-'"
            )
        own = _own_profiles(value, key.child(name))
        if own and "*" not in profiles and not set(own) & set(profiles):
            inactive[name] = own
            continue
        result[name] = service(name, value, context, warnings)
        problem = image_part_problem("service", name) if result[name].build else None
        if problem:  # devd tags what it builds devd-<project>-<service>
            raise key.child(name).problem(problem)
    if not result:
        raise key.problem(_none_active(inactive))
    _check_dependencies(result, inactive, key)
    _check_container_names(result, key)
    return result, inactive


def _check_container_names(services: Mapping[str, ServiceConfig], key: Key) -> None:
    """No two services name the same container (the engine would refuse the second)."""
    named: dict[str, str] = {}
    for name, config in services.items():
        given = config.container_name
        if given is None:
            continue
        if given in named:
            raise (
                key.child(name)
                .child("container_name")
                .problem(f"{given!r} is also the container_name of service {named[given]!r}")
            )
        named[given] = name


def _own_profiles(value: Any, key: Key) -> tuple[str, ...]:
    if not isinstance(value, Mapping) or value.get("profiles") is None:
        return ()
    return strings(value["profiles"], key.child("profiles"))


def _none_active(inactive: Mapping[str, tuple[str, ...]]) -> str:
    names = sorted({profile for own in inactive.values() for profile in own})
    return (
        "no service is active: every service has profiles and none of them is active; "
        f"activate one (COMPOSE_PROFILES={names[0]} or --profile {names[0]})"
    )


def _check_dependencies(
    services: Mapping[str, ServiceConfig], inactive: Mapping[str, tuple[str, ...]], key: Key
) -> None:
    """Every ``depends_on`` names an active service of the files (or an inactive one it does
    not require), and they form no cycle."""
    for name, config in services.items():
        for dependency in config.depends_on:
            if dependency.service in inactive:
                if dependency.required:
                    raise (
                        key.child(name)
                        .child("depends_on")
                        .problem(_needs_inactive(dependency.service, inactive[dependency.service]))
                    )
                continue
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


def _needs_inactive(service: str, profiles: tuple[str, ...]) -> str:
    listed = ", ".join(profiles)
    return (
        f"service {service!r} is not active (its profiles: {listed}); activate one "
        f"(COMPOSE_PROFILES={profiles[0]} or --profile {profiles[0]}) or make the "
        "dependency required: false"
    )


def _visit(
    name: str, services: Mapping[str, ServiceConfig], path: list[str], done: set[str], key: Key
) -> None:
    if name in done:
        return
    if name in path:
        cycle = " -> ".join([*path[path.index(name) :], name])
        raise key.child(name).child("depends_on").problem(f"dependency cycle: {cycle}")
    for dependency in services[name].depends_on:
        if dependency.service in services:
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
