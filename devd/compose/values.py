"""Reading typed values out of a parsed compose file, with errors that name the key path.

Every check takes a :class:`Key` (the file and the path of the value, e.g.
``services.web.ports[0]``) so that a wrong value is reported as compose reports it:
``compose.yaml: services.web.ports[0]: expected ..., got ...``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from devd.errors import ConfigError

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class Key:
    """Where a value sits: the compose file's name and the dotted path inside it.

    When several files were merged, ``origins`` names the file(s) that wrote each key path
    (``services.web.ports``: ``compose.override.yaml``), and a child key takes its file from
    there: an error names the file the value came from."""

    file: str
    path: str = ""
    origins: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def child(self, name: str) -> Key:
        path = f"{self.path}.{name}" if self.path else name
        return Key(self.origins.get(path, self.file), path, self.origins)

    def item(self, index: int) -> Key:
        return Key(self.file, f"{self.path}[{index}]", self.origins)

    def error(self, expected: str, got: Any) -> ConfigError:
        return self.problem(f"expected {expected}, got {describe(got)}")

    def problem(self, message: str) -> ConfigError:
        return ConfigError(f"{self}: {message}")

    def __str__(self) -> str:
        return f"{self.file}: {self.path}" if self.path else self.file


@dataclass
class Warnings:
    """The warnings of one load, in the order they were found; ``problems`` are what stops
    a command that starts containers (``devd up``) but not one that only reads the files
    (``devd explain``): a missing ``env_file``."""

    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def unsupported(self, key: Key, hint: str = "devd does not support it") -> None:
        self.add(f"{key}: ignored, {hint}")

    def add(self, line: str) -> None:
        if line not in self.lines:
            self.lines.append(line)

    def problem(self, line: str) -> None:
        if line not in self.problems:
            self.problems.append(line)


def describe(value: Any) -> str:
    """A value as an error message shows it: scalars quoted, containers by their kind."""
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    return repr(value)


def mapping(value: Any, key: Key) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise key.error("a mapping", value)
    for name in value:
        if not isinstance(name, str):
            raise key.error("string keys", name)
    return value


def sequence(value: Any, key: Key) -> list[Any]:
    if not isinstance(value, list):
        raise key.error("a list", value)
    return value


def string(value: Any, key: Key) -> str:
    if not isinstance(value, str):
        raise key.error("a string", value)
    return value


def scalar(value: Any, key: Key) -> str:
    """A string, number or boolean as compose turns it into text (``true``, ``1.5``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise key.error("a string, number or boolean", value)


_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def boolean(value: Any, key: Key) -> bool:
    """A boolean; a string compose casts after interpolation (``init: ${INIT}``) counts too."""
    if isinstance(value, str) and value in _TRUE | _FALSE:
        return value in _TRUE
    if not isinstance(value, bool):
        raise key.error("true or false", value)
    return value


def integer(value: Any, key: Key, low: int = 0, high: int | None = None) -> int:
    """An integer; a string of digits (``retries: ${RETRIES}``) counts too, as in compose."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise key.error("an integer", value)
    if value < low or (high is not None and value > high):
        bounds = f"{low}-{high}" if high is not None else f">= {low}"
        raise key.error(f"an integer {bounds}", value)
    return value


def strings(value: Any, key: Key) -> tuple[str, ...]:
    """A list of strings (``ignore: [a, b]``)."""
    return tuple(string(item, key.item(i)) for i, item in enumerate(sequence(value, key)))


def string_or_list(value: Any, key: Key) -> tuple[Any, ...]:
    """A single value or a list of them (``env_file: .env`` or ``env_file: [a, b]``)."""
    return tuple(value) if isinstance(value, list) else (value,)


def duration(value: Any, key: Key) -> float:
    """A Go duration as compose takes it (``1m30s``, ``500ms``, ``10s``), in seconds."""
    expected = 'a duration such as "10s", "1m30s" or "500ms"'
    if not isinstance(value, str):
        raise key.error(expected, value)
    text = value
    if text == "0":
        return 0.0
    position, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            break
        total += float(match[1]) * _UNIT_SECONDS[match[2]]
        position = match.end()
    if position != len(text) or not text:
        raise key.error(expected, value)
    return total


def key_values(value: Any, key: Key, environ: Mapping[str, str]) -> dict[str, str]:
    """``environment``/``args``: a mapping or a list of ``KEY=VALUE``; a key without a value
    takes ``environ``'s value, and is left out when ``environ`` has none (as compose does)."""
    result: dict[str, str] = {}
    if isinstance(value, list):
        for index, item in enumerate(value):
            text = string(item, key.item(index))
            name, has_value, text_value = text.partition("=")
            if not name:
                raise key.item(index).error('"KEY=VALUE" or "KEY"', item)
            if has_value:
                result[name] = text_value
            elif name in environ:
                result[name] = environ[name]
        return result
    for name, item in mapping(value, key).items():
        if item is None:
            if name in environ:
                result[name] = environ[name]
        else:
            result[name] = scalar(item, key.child(name))
    return result


def labels(value: Any, key: Key) -> dict[str, str]:
    """``labels``: a mapping or a list of ``KEY=VALUE`` (a bare ``KEY`` is an empty label)."""
    if isinstance(value, list):
        result = {}
        for index, item in enumerate(value):
            name, _, text = string(item, key.item(index)).partition("=")
            result[name] = text
        return result
    return {
        name: "" if item is None else scalar(item, key.child(name))
        for name, item in mapping(value, key).items()
    }


def check_keys(
    node: Mapping[str, Any],
    key: Key,
    supported: frozenset[str],
    known: frozenset[str],
    warnings: Warnings,
) -> None:
    """Warn once for each key compose knows but devd ignores; a key compose does not know
    (and not an ``x-`` extension) is an error, as in compose."""
    for name in node:
        if name in supported or name.startswith("x-"):
            continue
        if name in known:
            warnings.unsupported(key.child(name))
            continue
        expected = ", ".join(sorted(supported))
        raise key.child(name).problem(
            f"unknown key (compose does not know it); devd reads: {expected}"
        )


def command(value: Any, key: Key) -> tuple[str, ...]:
    """``command``/``entrypoint``: a string is split like a shell (as compose does), a list is
    taken as is (numbers become text)."""
    if isinstance(value, str):
        try:
            return tuple(shlex.split(value))
        except ValueError as error:
            raise key.problem(f"cannot split {value!r} like a shell: {error}") from error
    if isinstance(value, list):
        return tuple(
            str(item) if isinstance(item, int | float) and not isinstance(item, bool)
            else string(item, key.item(i))
            for i, item in enumerate(value)
        )  # fmt: skip
    raise key.error("a string or a list of strings", value)
