"""``develop.watch``: compose's watch rules as :class:`WatchRule` values.

``path`` is relative to the compose file's directory and becomes project-root-relative posix
(it must stay inside the project); sync actions need a ``target``; ``sync+exec`` needs
``exec.command``. Pure.
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
    mapping,
    string,
    strings,
)
from devd.config import WatchAction, WatchRule

_DEVELOP_KNOWN = frozenset({"watch"})
_RULE_KEYS = frozenset({"action", "path", "target", "ignore", "include", "initial_sync", "exec"})
_EXEC_KNOWN = frozenset({"user", "privileged", "working_dir", "environment"})
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
    exec_command = _exec(node, key, warnings) if action == "sync+exec" else None
    return WatchRule(
        action=cast(WatchAction, action),
        path=_path(string(node["path"], key.child("path")), key.child("path"), places),
        target=target,
        ignore=strings(node.get("ignore", []), key.child("ignore")),
        include=strings(node.get("include", []), key.child("include")),
        initial_sync=boolean(node.get("initial_sync", False), key.child("initial_sync")),
        exec_command=exec_command,
    )


def _exec(node: Mapping[str, Any], key: Key, warnings: Warnings) -> tuple[str, ...]:
    if "exec" not in node:
        raise key.problem("action sync+exec needs exec.command")
    block = mapping(node["exec"], key.child("exec"))
    check_keys(block, key.child("exec"), frozenset({"command"}), _EXEC_KNOWN, warnings)
    if "command" not in block:
        raise key.child("exec").problem("command is missing")
    return command(block["command"], key.child("exec").child("command"))


def _path(text: str, key: Key, places: tuple[Path, Path]) -> str:
    directory, root = places
    joined = posixpath.normpath(posixpath.join(directory.as_posix(), text))
    relative = posixpath.relpath(joined, root.as_posix())
    if relative == ".." or relative.startswith("../"):
        raise key.error("a path inside the project", text)
    return "" if relative == "." else relative
