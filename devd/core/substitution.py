"""Variable substitution in Dockerfile words, as the builder does it for ARG/ENV values.

Supports ``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:+alt}`` and
``${VAR+alt}``; an escaped ``\\$`` stays literal.
Unset variables expand to the empty string, as in Docker.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
# A default/alternative word runs to the first "}" that closes no reference nested in it;
# references nest up to two deep (``${A:-${B:-${C}}}``), as the builder's lexer allows.
_INNER = r"\$\{[^}]*\}"
_NESTED = rf"\$\{{(?:[^$}}]|\$(?!\{{)|{_INNER})*\}}"
_WORD = rf"(?:[^$}}]|\$(?!\{{)|{_NESTED})*"
_TOKEN = re.compile(
    rf"(?P<escaped>\\\$)"
    rf"|\$\{{(?P<braced>{_NAME})(?:(?P<op>:?[-+])(?P<word>{_WORD}))?\}}"
    rf"|\$(?P<bare>{_NAME})"
)


def expand(word: str, variables: Mapping[str, str]) -> str:
    """Return ``word`` with every variable reference replaced from ``variables``."""

    def replace(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        name = match.group("braced") or match.group("bare")
        op = match.group("op")
        if op is None:
            return variables.get(name, "")
        is_set = name in variables
        non_empty = bool(variables.get(name))
        present = non_empty if op.startswith(":") else is_set
        if op.endswith("-"):
            return variables[name] if present else expand(match.group("word"), variables)
        return expand(match.group("word"), variables) if present else ""

    return _TOKEN.sub(replace, word)


def references(word: str) -> set[str]:
    """The names of the variables ``word`` refers to (an escaped ``\\$`` refers to none)."""
    return {
        match.group("braced") or match.group("bare")
        for match in _TOKEN.finditer(word)
        if not match.group("escaped")
    } | {name for match in _TOKEN.finditer(word) for name in _nested(match)}


def _nested(match: re.Match[str]) -> set[str]:
    word = match.group("word")
    return references(word) if word else set()


def unquote(value: str) -> str:
    """Remove one level of shell-style quotes, as the builder does for ENV and ARG values.

    A ``$`` that single quotes or a backslash make literal comes out as ``\\$``, so that
    :func:`expand` (always applied after) leaves it alone, as the builder does.
    """
    out: list[str] = []
    quote = ""
    i = 0
    while i < len(value):
        char = value[i]
        if char == "\\" and i + 1 < len(value) and quote != "'":
            out.append("\\$" if value[i + 1] == "$" else value[i + 1])
            i += 2
            continue
        if char in "'\"" and quote in ("", char):
            quote = "" if quote else char
        elif char == "$" and quote == "'":
            out.append("\\$")
        else:
            out.append(char)
        i += 1
    return "".join(out)
