"""``develop.watch``: compose's watch rules as :class:`WatchRule` values.

``path`` is relative to the compose file's directory and becomes project-root-relative posix
(it must stay inside the project); sync actions need a ``target``; ``sync+exec`` needs
``exec.command``, and its ``user``, ``working_dir``, ``environment`` and ``privileged`` are
read as compose reads them (``environment``: a mapping or a list of ``KEY=VALUE``; a key
without a value is left out, as ``docker compose watch`` leaves it out of the exec). Pure.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast, get_args

from devd.compose.values import (
    Key,
    Warnings,
    boolean,
    check_keys,
    command,
    key_values,
    mapping,
    string,
    strings,
)
from devd.config import ExecHook, WatchAction, WatchRule

_DEVELOP_KNOWN = frozenset({"watch"})
_RULE_KEYS = frozenset({"action", "path", "target", "ignore", "include", "initial_sync", "exec"})
_EXEC_KEYS = frozenset({"command", "user", "privileged", "working_dir", "environment"})
_ACTIONS = get_args(WatchAction)
_NEEDS_TARGET = frozenset({"sync", "sync+restart", "sync+exec"})


def develop(
    value: Any, key: Key, places: tuple[Path, Path], warnings: Warnings
) -> tuple[WatchRule, ...] | None:
    """The rules of ``develop:`` (None when it has no ``watch``). ``places`` is the compose
    file's directory and the project root, both absolute."""
    node = mapping(value, key)
    check_keys(node, key, _DEVELOP_KNOWN, frozenset(), warnings)
    if "watch" not in node:
        return None
    rules = node["watch"]
    if not isinstance(rules, list):
        raise key.child("watch").error("a list of watch rules", rules)
    where = key.child("watch")
    return tuple(_rule(item, where.item(i), places, warnings) for i, item in enumerate(rules))


def _rule(value: Any, key: Key, places: tuple[Path, Path], warnings: Warnings) -> WatchRule:
    node = mapping(value, key)
    check_keys(node, key, _RULE_KEYS, frozenset(), warnings)
    for required in ("action", "path"):
        if required not in node:
            raise key.problem(f"{required} is missing")
    action = string(node["action"], key.child("action"))
    if action not in _ACTIONS:
        raise key.child("action").error(" | ".join(_ACTIONS), action)
    target = string(node["target"], key.child("target")) if "target" in node else None
    if action in _NEEDS_TARGET and target is None:
        raise key.problem(f"action {action} needs a target (the path in the container)")
    hook = _exec(node, key, warnings) if action == "sync+exec" else None
    return WatchRule(
        action=cast(WatchAction, action),
        path=_path(string(node["path"], key.child("path")), key.child("path"), places),
        target=target,
        ignore=strings(node.get("ignore", []), key.child("ignore")),
        include=strings(node.get("include", []), key.child("include")),
        initial_sync=boolean(node.get("initial_sync", False), key.child("initial_sync")),
        exec_hook=hook,
    )


def _exec(node: Mapping[str, Any], key: Key, warnings: Warnings) -> ExecHook:
    if "exec" not in node:
        raise key.problem("action sync+exec needs exec.command")
    key = key.child("exec")
    block = mapping(node["exec"], key)
    check_keys(block, key, _EXEC_KEYS, frozenset(), warnings)
    if "command" not in block:
        raise key.problem("command is missing")

    def text(name: str) -> str | None:  # compose: "" is the same as leaving it out
        value = block.get(name)
        if value is None:
            return None
        return string(value, key.child(name)) or None

    return ExecHook(
        command=command(block["command"], key.child("command")),
        user=text("user"),
        working_dir=text("working_dir"),
        environment=_environment(block.get("environment"), key.child("environment")),
        privileged=boolean(block.get("privileged", False), key.child("privileged")),
    )


def _environment(value: Any, key: Key) -> dict[str, str]:
    """``exec.environment``: unlike a service's, a key without a value is not looked up in
    the environment: compose leaves it out of the exec."""
    if value is None:
        return {}
    if not isinstance(value, list | Mapping):
        raise key.error('a mapping or a list of "KEY=VALUE"', value)
    return key_values(value, key, {})


def _path(text: str, key: Key, places: tuple[Path, Path]) -> str:
    directory, root = places
    joined = posixpath.normpath(posixpath.join(directory.as_posix(), text))
    relative = posixpath.relpath(joined, root.as_posix())
    if relative == ".." or relative.startswith("../"):
        raise key.error("a path inside the project", text)
    return "" if relative == "." else relative
