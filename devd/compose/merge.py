"""Several compose files as one, merged as compose merges them (compose-go ``override``).

Each file's tree (parsed and interpolated) is merged over the ones before it: mappings by key,
recursively; a scalar replaces; a sequence is appended to, except where compose has a rule of
its own for the key:

- ``command``, ``entrypoint`` and ``healthcheck.test`` are replaced whole, as are ``ulimits``
  entries;
- ``build`` (a string is ``{context: ...}``), ``depends_on`` and ``networks`` (a list is a
  mapping of its names) merge as mappings;
- ``environment``, ``labels``, ``build.args``, ``env_file``, ``sysctls``, ``tmpfs``, ``dns``...
  become lists of ``KEY=VALUE`` entries and are appended; ``extra_hosts`` too, without
  repeating an entry;

then every sequence compose keeps unique keeps one entry per key, the last one written, in
the place of the first: ``volumes`` by container path, ``environment``/``labels``/``args``
by name, ``ports`` as written (the same port in two syntaxes is folded by
:func:`devd.compose.ports.ports`), ``env_file`` by path, ``cap_add``, ``profiles``...

``!reset`` on a value drops it and what the files before said of it; ``!override``
replaces what they said instead of merging with it (:func:`strip_tags` finds both). Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from devd.compose.values import Key
from devd.errors import ConfigError

TreePath = tuple[str, ...]


class Reset:
    """A value tagged ``!reset``: it and what earlier files said of it are dropped."""


class Override:
    """A value tagged ``!override``: it replaces what earlier files said of it, unmerged."""

    def __init__(self, value: Any) -> None:
        self.value = value


def strip_tags(tree: Any, path: TreePath = ()) -> tuple[Any, list[TreePath]]:
    """``tree`` without its ``!reset`` values and with its ``!override`` values unwrapped,
    and the paths of both (what :func:`merge_files` drops from the earlier files first)."""
    paths: list[TreePath] = []

    def walk(node: Any, where: TreePath) -> Any:
        if isinstance(node, Override):
            paths.append(where)
            return walk(node.value, where)
        if isinstance(node, Mapping):
            kept = {}
            for name, value in node.items():
                if isinstance(value, Reset):
                    paths.append((*where, str(name)))
                else:
                    kept[name] = walk(value, (*where, str(name)))
            return kept
        if isinstance(node, list):
            return [walk(item, (*where, str(i))) for i, item in enumerate(node)
                    if not isinstance(item, Reset)]  # fmt: skip
        return node

    return walk(tree, path), paths


def merge_files(trees: Iterable[tuple[Any, list[TreePath], str]]) -> dict[str, Any]:
    """The files' trees (each with its ``!reset``/``!override`` paths and its name, for
    errors) merged in order, then made unique as compose makes them."""
    merged: dict[str, Any] = {}
    for tree, resets, name in trees:
        for path in resets:
            _drop(merged, path)
        if tree is None:
            continue
        if not isinstance(tree, Mapping):
            raise Key(name).error("a mapping", tree)
        merged = _merge(merged, dict(tree), (), name)
    result: dict[str, Any] = unique(merged)
    return result


def _drop(tree: dict[str, Any], path: TreePath) -> None:
    node: Any = tree
    for name in path[:-1]:
        node = node.get(name) if isinstance(node, Mapping) else None
        if node is None:
            return
    if isinstance(node, dict):
        node.pop(path[-1], None)


Merger = Callable[[Any, Any, TreePath, str], Any]


def _matches(path: TreePath, pattern: TreePath) -> bool:
    if len(path) != len(pattern):
        return False
    return all(p in ("*", part) for part, p in zip(path, pattern, strict=True))


def _merge(base: Any, other: Any, path: TreePath, name: str) -> Any:
    for pattern, merger in _SPECIAL:
        if _matches(path, pattern):
            return merger(base, other, path, name)
    if other is None:
        return base
    if isinstance(base, Mapping):
        if not isinstance(other, Mapping):
            raise _conflict(path, name)
        return _merge_mappings(dict(base), other, path, name)
    if isinstance(base, list):
        if not isinstance(other, list):
            raise _conflict(path, name)
        return [*base, *other]
    return other


def _conflict(path: TreePath, name: str) -> ConfigError:
    where = ".".join(path)
    return ConfigError(
        f"{name}: {where}: cannot override {where}: one file has a mapping or list where "
        "another has a value of another kind"
    )


def _merge_mappings(
    base: dict[str, Any], other: Mapping[str, Any], path: TreePath, name: str
) -> dict[str, Any]:
    for key, value in other.items():
        base[key] = _merge(base[key], value, (*path, key), name) if key in base else value
    return base


def _replace(base: Any, other: Any, path: TreePath, name: str) -> Any:
    return other


def _as_mapping(value: Any, default: Mapping[str, Any] | None) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, list):
        return {str(item): None if default is None else dict(default) for item in value}
    return {}


def _mappings(default: Mapping[str, Any] | None) -> Merger:
    def merge(base: Any, other: Any, path: TreePath, name: str) -> Any:
        return _merge_mappings(_as_mapping(base, default), _as_mapping(other, default), path, name)

    return merge


def _build(base: Any, other: Any, path: TreePath, name: str) -> Any:
    def spec(value: Any) -> dict[str, Any]:
        return {"context": value} if isinstance(value, str) else _as_mapping(value, None)

    return _merge_mappings(spec(base), spec(other), path, name)


def as_sequence(value: Any) -> list[Any]:
    """A ``KEY: VALUE`` mapping as compose's sorted ``KEY=VALUE`` list (a null value: the bare
    key; booleans as ``true``/``false``); a string as a list of it; a list as it is."""
    if isinstance(value, Mapping):
        entries = []
        for key, item in value.items():
            if item is None:
                entries.append(str(key))
            else:
                items = item if isinstance(item, list) else [item]
                entries.extend(f"{key}={_text(part)}" for part in items)
        return sorted(entries)
    if isinstance(value, list):
        return list(value)
    return [value] if isinstance(value, str) else []


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _sequences(base: Any, other: Any, path: TreePath, name: str) -> Any:
    return [*as_sequence(base), *as_sequence(other)]


def _extra_hosts(base: Any, other: Any, path: TreePath, name: str) -> Any:
    first = as_sequence(base)
    return [*first, *(entry for entry in as_sequence(other) if entry not in first)]


_SPECIAL: tuple[tuple[TreePath, Merger], ...] = tuple(
    (tuple(pattern.split(".")), merger)
    for pattern, merger in (
        ("networks.*.labels", _sequences),
        ("volumes.*.labels", _sequences),
        ("services.*.annotations", _sequences),
        ("services.*.build", _build),
        ("services.*.build.args", _sequences),
        ("services.*.build.additional_contexts", _sequences),
        ("services.*.build.extra_hosts", _extra_hosts),
        ("services.*.build.labels", _sequences),
        ("services.*.command", _replace),
        ("services.*.depends_on", _mappings({"condition": "service_started", "required": True})),
        ("services.*.deploy.labels", _sequences),
        ("services.*.dns", _sequences),
        ("services.*.dns_opt", _sequences),
        ("services.*.dns_search", _sequences),
        ("services.*.entrypoint", _replace),
        ("services.*.env_file", _sequences),
        ("services.*.label_file", _sequences),
        ("services.*.environment", _sequences),
        ("services.*.extra_hosts", _extra_hosts),
        ("services.*.healthcheck.test", _replace),
        ("services.*.labels", _sequences),
        ("services.*.networks", _mappings(None)),
        ("services.*.sysctls", _sequences),
        ("services.*.tmpfs", _sequences),
        ("services.*.ulimits.*", _replace),
    )
)


# -- one entry per key -----------------------------------------------------------------------


def _key_value(entry: Any) -> str:
    return str(entry).partition("=")[0]


def _volume_target(entry: Any) -> str:
    if isinstance(entry, Mapping):
        return str(entry.get("target", ""))
    parts = str(entry).split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def _env_file_path(entry: Any) -> str:
    return str(entry.get("path", "")) if isinstance(entry, Mapping) else str(entry)


def _as_written(entry: Any) -> str:
    return repr(entry) if isinstance(entry, Mapping) else str(entry)


def _mount_target(default: str) -> Callable[[Any], str]:
    def target(entry: Any) -> str:
        if isinstance(entry, Mapping):
            return str(entry.get("target") or f"{default}/{entry.get('source')}")
        return f"{default}/{entry}"

    return target


_UNIQUE: tuple[tuple[TreePath, Callable[[Any], str]], ...] = tuple(
    (tuple(pattern.split(".")), indexer)
    for pattern, indexer in (
        ("networks.*.labels", _key_value),
        ("services.*.annotations", _key_value),
        ("services.*.build.args", _key_value),
        ("services.*.build.additional_contexts", _key_value),
        ("services.*.build.tags", _key_value),
        ("services.*.build.labels", _key_value),
        ("services.*.cap_add", _key_value),
        ("services.*.cap_drop", _key_value),
        ("services.*.configs", _mount_target("")),
        ("services.*.deploy.labels", _key_value),
        ("services.*.dns", _key_value),
        ("services.*.dns_opt", _key_value),
        ("services.*.dns_search", _key_value),
        ("services.*.environment", _key_value),
        ("services.*.env_file", _env_file_path),
        ("services.*.expose", _as_written),
        ("services.*.labels", _key_value),
        ("services.*.links", _key_value),
        ("services.*.ports", _as_written),
        ("services.*.profiles", _key_value),
        ("services.*.secrets", _mount_target("/run/secrets")),
        ("services.*.sysctls", _key_value),
        ("services.*.tmpfs", _key_value),
        ("services.*.volumes", _volume_target),
    )
)


def unique(tree: Any, path: TreePath = ()) -> Any:
    """``tree`` with each sequence compose keeps unique holding one entry per key: the last
    one written, in the place of the first."""
    if isinstance(tree, Mapping):
        return {name: unique(value, (*path, str(name))) for name, value in tree.items()}
    if isinstance(tree, list):
        for pattern, indexer in _UNIQUE:
            if _matches(path, pattern):
                return _one_per_key(tree, indexer)
    return tree


def _one_per_key(entries: list[Any], indexer: Callable[[Any], str]) -> list[Any]:
    result: list[Any] = []
    places: dict[str, int] = {}
    for entry in entries:
        key = indexer(entry)
        if key in places:
            result[places[key]] = entry
        else:
            places[key] = len(result)
            result.append(entry)
    return result
