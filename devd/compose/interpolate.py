"""Compose-spec variable interpolation, applied to every string value of a compose file.

``$VAR`` and ``${VAR}``; ``${VAR:-default}`` (unset or empty) and ``${VAR-default}`` (unset);
``${VAR:?error}`` and ``${VAR?error}`` (stop with the message); ``${VAR:+alt}`` and
``${VAR+alt}`` (the alternative when set); ``$$`` is a literal ``$``; defaults nest
(``${A:-${B}}``). A ``$`` before anything else is kept as it is. Keys are not interpolated.
An unset variable without a default becomes ``""`` with compose's warning. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from devd.compose.values import Key, Warnings

_NAME = re.compile(r"[_A-Za-z][_A-Za-z0-9]*")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")


class _Invalid(Exception):
    """A ``${...}`` that does not parse; reported with the key path by :func:`interpolate`."""


def interpolate(tree: Any, environ: Mapping[str, str], key: Key, warnings: Warnings) -> Any:
    """``tree`` with every string value interpolated from ``environ``."""
    if isinstance(tree, Mapping):
        return {
            name: interpolate(value, environ, key.child(str(name)), warnings)
            for name, value in tree.items()
        }
    if isinstance(tree, list):
        return [interpolate(item, environ, key.item(i), warnings) for i, item in enumerate(tree)]
    if isinstance(tree, str) and "$" in tree:
        return substitute_value(tree, environ, key, warnings)
    return tree


def substitute_value(text: str, environ: Mapping[str, str], key: Key, warnings: Warnings) -> str:
    """:func:`substitute`, with a malformed reference a ConfigError naming ``key``."""
    try:
        return substitute(text, environ, key, warnings)
    except _Invalid as error:
        raise key.problem(
            f"invalid interpolation format {str(error)!r}; write $$ for a literal $"
        ) from None


def substitute(text: str, environ: Mapping[str, str], key: Key, warnings: Warnings) -> str:
    """``text`` with its variable references replaced."""
    out: list[str] = []
    position = 0
    while (dollar := text.find("$", position)) != -1:
        out.append(text[position:dollar])
        following = text[dollar + 1 : dollar + 2]
        if following == "$":
            out.append("$")
            position = dollar + 2
        elif following == "{":
            end = _closing_brace(text, dollar + 2)
            out.append(_braced(text[dollar + 2 : end], environ, key, warnings))
            position = end + 1
        elif match := _NAME.match(text, dollar + 1):
            out.append(_lookup(match[0], environ, key, warnings))
            position = match.end()
        else:
            out.append("$")
            position = dollar + 1
    out.append(text[position:])
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    """The index of the ``}`` that closes the ``${`` opened just before ``start``."""
    depth, index = 1, start
    while index < len(text):
        if text.startswith("$$", index):
            index += 2
            continue
        if text.startswith("${", index):
            depth += 1
            index += 2
            continue
        if text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    raise _Invalid(text[start - 2 :])


def _braced(body: str, environ: Mapping[str, str], key: Key, warnings: Warnings) -> str:
    """The value of ``${body}``: a name, optionally followed by an operator and its word."""
    match = _NAME.match(body)
    if match is None:
        raise _Invalid("${" + body + "}")
    name, rest = match[0], body[match.end() :]
    if not rest:
        return _lookup(name, environ, key, warnings)
    operator = next((op for op in _OPERATORS if rest.startswith(op)), None)
    if operator is None:
        raise _Invalid("${" + body + "}")
    word = rest[len(operator) :]
    value = environ.get(name)
    present = value is not None and (value != "" or not operator.startswith(":"))
    if operator.endswith("-"):
        return value if present and value is not None else substitute(word, environ, key, warnings)
    if operator.endswith("+"):
        return substitute(word, environ, key, warnings) if present else ""
    if not present or value is None:
        message = substitute(word, environ, key, warnings)
        detail = f": {message}" if message else ""
        raise key.problem(f"required variable {name} is missing a value{detail}")
    return value


def _lookup(name: str, environ: Mapping[str, str], key: Key, warnings: Warnings) -> str:
    if name in environ:
        return environ[name]
    warnings.add(f'{key.file}: the "{name}" variable is not set; defaulting to a blank string')
    return ""
