"""``volumes``: a service's mounts (short ``"./src:/app:ro"``, ``"data:/data"``, ``"/abs:/x"``,
``"/anon"`` and long syntax) and the project's named volumes (top-level ``volumes:``).

Relative bind sources are resolved against the compose file's directory; a named volume must
be declared at the top level, and its engine name is project-scoped (``<project>_<name>``)
unless it sets ``name:`` or is ``external`` (then its key is its name). An external volume is
the user's: devd never creates, labels or removes it. Pure (``~`` is expanded from ``home``).
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devd.compose.values import Key, Warnings, boolean, check_keys, mapping, string
from devd.config import Mount

_SHORT = 'a volume such as "./src:/app:ro", "data:/data" or "/container/path"'
_LONG_KEYS = frozenset({"type", "source", "target", "read_only", "bind", "volume", "tmpfs"})
_KNOWN_LONG = frozenset({"consistency", "image"})
_TOP_KEYS = frozenset({"name", "external"})
_KNOWN_TOP = frozenset({"driver", "driver_opts", "labels"})
_IGNORED_MODES = frozenset({"rw", "z", "Z", "cached", "delegated", "consistent"})


@dataclass(frozen=True)
class NamedVolume:
    """A top-level volume: its name in the engine, and whether the project creates it."""

    engine_name: str
    external: bool = False


def declared(value: Any, key: Key, project: str, warnings: Warnings) -> dict[str, NamedVolume]:
    """The top-level ``volumes:`` mapping. A volume's engine name is its ``name:`` when set
    (literal, not project-scoped), else its key when external, else ``<project>_<key>``."""
    result: dict[str, NamedVolume] = {}
    for name, body in mapping(value, key).items():
        where = key.child(name)
        body = {} if body is None else mapping(body, where)
        external, legacy_name = _external(body.get("external", False), where, warnings)
        if external:
            _no_settings(body, where)
        check_keys(body, where, _TOP_KEYS, _KNOWN_TOP, warnings)
        own = string(body["name"], where.child("name")) if "name" in body else None
        if legacy_name and own and own != legacy_name:
            raise where.problem("name and external.name conflict; only use name (as compose)")
        engine_name = own or legacy_name or (name if external else f"{project}_{name}")
        result[name] = NamedVolume(engine_name, external)
    return result


def _external(value: Any, key: Key, warnings: Warnings) -> tuple[bool, str | None]:
    """``external``: true/false, or the deprecated ``{name: X}`` (external, named X)."""
    where = key.child("external")
    if not isinstance(value, Mapping):
        return boolean(value, where), None
    check_keys(mapping(value, where), where, frozenset({"name"}), frozenset(), warnings)
    warnings.add(f"{where}.name: deprecated (as in compose); set name and external: true")
    legacy = value.get("name")
    return True, string(legacy, where.child("name")) if legacy is not None else None


def _no_settings(body: Mapping[str, Any], key: Key) -> None:
    """An external volume exists already: settings for creating it are an error, as in compose."""
    settings = sorted(_KNOWN_TOP & body.keys())
    if settings:
        raise key.problem(
            f'"external" and "{settings[0]}" conflict, as in compose (devd does not create an '
            f"external volume: remove {settings[0]})"
        )


@dataclass(frozen=True)
class MountContext:
    """What resolving a mount needs: the compose directory, home, and the declared volumes."""

    directory: Path
    home: Path
    volumes: Mapping[str, NamedVolume]


def mounts(value: Any, key: Key, context: MountContext, warnings: Warnings) -> tuple[Mount, ...]:
    if not isinstance(value, list):
        raise key.error("a list of volumes", value)
    result = []
    for index, item in enumerate(value):
        where = key.item(index)
        if isinstance(item, Mapping):
            result.append(_long(item, where, context, warnings))
        else:
            result.append(_short(string(item, where), where, context, warnings))
    return tuple(result)


def _short(text: str, key: Key, context: MountContext, warnings: Warnings) -> Mount:
    parts = text.split(":")
    if len(parts) == 1:
        return Mount("volume", "", _target(parts[0], key, text))
    if len(parts) > 3 or not parts[0]:
        raise key.error(_SHORT, text)
    source, target = parts[0], _target(parts[1], key, text)
    read_only = False
    for mode in parts[2].split(",") if len(parts) == 3 else []:
        if mode == "ro":
            read_only = True
        elif mode not in _IGNORED_MODES:
            warnings.unsupported(key, f"devd does not support the volume option {mode!r}")
    if source[0] in "./~":
        return Mount("bind", _host_path(source, context), target, read_only)
    return Mount("volume", _named(source, key, context), target, read_only)


def _target(text: str, key: Key, whole: str) -> str:
    if not text.startswith("/"):
        raise key.error(f"an absolute container path in {_SHORT}", whole)
    return posixpath.normpath(text)


def _host_path(source: str, context: MountContext) -> str:
    if source == "~" or source.startswith("~/"):
        return str(context.home / source[2:])
    return str((context.directory / source).resolve())


def _named(name: str, key: Key, context: MountContext) -> str:
    volume = context.volumes.get(name)
    if volume is None:
        declared_names = ", ".join(context.volumes) or "none"
        raise key.problem(
            f"the named volume {name!r} is not declared in the top-level volumes: "
            f"(declared: {declared_names})"
        )
    return volume.engine_name


def _long(node: Mapping[str, Any], key: Key, context: MountContext, warnings: Warnings) -> Mount:
    check_keys(mapping(node, key), key, _LONG_KEYS, _KNOWN_LONG, warnings)
    kind = string(node.get("type"), key.child("type"))
    if kind not in ("bind", "volume", "tmpfs"):
        raise key.child("type").error('"bind", "volume" or "tmpfs"', kind)
    if "target" not in node:
        raise key.problem("the container path (target) is missing")
    target = _target(
        string(node["target"], key.child("target")), key.child("target"), node["target"]
    )
    read_only = boolean(node.get("read_only", False), key.child("read_only"))
    _options(node, key, warnings)
    source = node.get("source")
    if kind == "tmpfs" or source in (None, ""):
        if kind == "bind":
            raise key.problem("a bind mount needs a source")
        return Mount("tmpfs" if kind == "tmpfs" else "volume", "", target, read_only)
    text = string(source, key.child("source"))
    if kind == "bind":
        return Mount("bind", _host_path(text, context), target, read_only)
    return Mount("volume", _named(text, key.child("source"), context), target, read_only)


def _options(node: Mapping[str, Any], key: Key, warnings: Warnings) -> None:
    """``bind:``/``volume:``/``tmpfs:`` option blocks: devd acts on none but the defaults."""
    for block in ("bind", "volume", "tmpfs"):
        if block not in node:
            continue
        options = mapping(node[block] or {}, key.child(block))
        for option, setting in options.items():
            if block == "bind" and option == "create_host_path" and setting is not False:
                continue
            warnings.unsupported(key.child(block).child(option))
