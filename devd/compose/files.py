"""Finding and reading compose files, and the ``.env`` beside them.

The files are chosen as compose chooses them: those given with ``-f`` (in order), else those
``COMPOSE_FILE`` names (split at ``COMPOSE_PATH_SEPARATOR``, default ``:``), else the first
of ``compose.yaml``, ``compose.yml``, ``docker-compose.yml``, ``docker-compose.yaml`` in the
project directory, followed by the first of ``compose.override.yml``,
``compose.override.yaml``, ``docker-compose.override.yml``, ``docker-compose.override.yaml``
there (whatever the main file is called; a warning when there are several of either). YAML
is read as compose reads it (YAML 1.2: ``80:80`` and ``yes`` are strings, a repeated key is
an error, ``!reset`` and ``!override`` tags); a syntax error names the file, line and column.
"""

from __future__ import annotations

import re
from collections import ChainMap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devd import envfile
from devd.compose.interpolate import substitute_value
from devd.compose.merge import Override, Reset
from devd.compose.values import Key, Warnings
from devd.errors import ConfigError

COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_FILES = (
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)
DOTENV = ".env"
FILE_VARIABLE = "COMPOSE_FILE"
SEPARATOR_VARIABLE = "COMPOSE_PATH_SEPARATOR"


@dataclass(frozen=True)
class FileSet:
    """The compose files to merge, first to last, and where the ``.env`` that interpolates
    them is: the first file's directory when they were given with ``-f``, else the project
    directory (as compose reads it from its working directory)."""

    files: tuple[Path, ...]
    dotenv_dir: Path
    warnings: tuple[str, ...] = ()


def find(root: Path) -> tuple[Path | None, tuple[str, ...]]:
    """The compose file at ``root`` (None when there is none) and the warning, if any."""
    return _first_present(root, COMPOSE_FILES, "found {others} too; using {first}, as compose does")


def find_override(root: Path) -> tuple[Path | None, tuple[str, ...]]:
    """The override file compose merges over the one :func:`find` gives, if any."""
    return _first_present(
        root, OVERRIDE_FILES, "found override files {others} too; using {first}, as compose does"
    )


def _first_present(
    root: Path, names: Sequence[str], warning: str
) -> tuple[Path | None, tuple[str, ...]]:
    present = [root / name for name in names if (root / name).is_file()]
    if not present:
        return None, ()
    if len(present) == 1:
        return present[0], ()
    others = ", ".join(path.name for path in present[1:])
    return present[0], (warning.format(others=others, first=present[0].name),)


def choose(root: Path, given: Sequence[Path], variables: Mapping[str, str]) -> FileSet | None:
    """The compose files of the project at ``root``: ``given`` (``-f``, relative to ``root``,
    which ``-C`` names as if devd had been started there), else ``COMPOSE_FILE`` in
    ``variables`` (the environment over the project's ``.env``; relative to ``root``), else
    the files found at ``root`` (None when there is none). A file named but missing is a
    ConfigError naming where it was named."""
    if given:
        files = tuple((root / path).resolve() for path in given)
        _exist(files, "-f")
        return FileSet(files, files[0].parent)
    listed = variables.get(FILE_VARIABLE)
    if listed:
        separator = variables.get(SEPARATOR_VARIABLE) or ":"
        files = tuple((root / part).resolve() for part in listed.split(separator) if part)
        _exist(files, FILE_VARIABLE)
        return FileSet(files, root)
    main, found = find(root)
    if main is None:
        return None
    override, also = find_override(root)
    return FileSet((main,) if override is None else (main, override), root, found + also)


def _exist(files: Sequence[Path], source: str) -> None:
    for path in files:
        if not path.is_file():
            raise ConfigError(f"{source}: compose file {path} does not exist")


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's core schema (compose's parser) and no repeated keys."""

    yaml_implicit_resolvers: dict[Any, Any] = {}  # noqa: RUF012 - PyYAML's own class attribute

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            if key_node.value in seen:
                first = seen[key_node.value]
                problem = f"mapping key {key_node.value!r} already defined at line {first}"
                raise yaml.constructor.ConstructorError(None, None, problem, key_node.start_mark)
            seen[key_node.value] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)

    def construct_core_int(self, node: yaml.ScalarNode) -> int:
        text = str(self.construct_scalar(node))
        if text.startswith("0o"):
            return int(text[2:], 8)
        return int(text, 16) if text.startswith("0x") else int(text, 10)


_RESOLVERS = (
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("merge", r"^(?:<<)$", "<"),
)
for _tag, _pattern, _first in _RESOLVERS:
    _Loader.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(_pattern), list(_first))
_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_core_int)


def _reset(loader: _Loader, node: yaml.Node) -> Reset:
    return Reset()


def _override(loader: _Loader, node: yaml.Node) -> Override:
    """``!override VALUE``: the value, constructed as it would be without the tag."""
    if isinstance(node, yaml.MappingNode):
        return Override(loader.construct_mapping(node, deep=True))
    if isinstance(node, yaml.SequenceNode):
        return Override(loader.construct_sequence(node, deep=True))
    assert isinstance(node, yaml.ScalarNode)
    tag = loader.resolve(yaml.ScalarNode, node.value, (True, False))  # type: ignore[no-untyped-call]
    return Override(loader.construct_object(yaml.ScalarNode(tag, node.value), deep=True))


_Loader.add_constructor("!reset", _reset)
_Loader.add_constructor("!override", _override)


def parse_yaml(text: str, name: str) -> Any:
    """The YAML document in ``text``; ``name`` labels errors (``compose.yaml:3:7: ...``)."""
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: builds no objects
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark is not None else name
        raise ConfigError(f"{where}: not valid YAML: {error.problem}") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{name}: not valid YAML: {error}") from error


def read_text(path: Path, label: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{label}: cannot read {path}: {error}") from error


def parse_dotenv(text: str, source: str, environ: Mapping[str, str]) -> dict[str, str]:
    """Compose's ``.env`` (and ``env_file``) syntax: devd's env-file lines, plus what compose's
    dotenv parser adds: an ``export`` prefix, quoted values (quotes removed; ``\\n`` in double
    quotes is a newline) and `` #`` comments after an unquoted value."""
    return {key: _unquote(value) for key, value in _raw_values(text, source, environ).items()}


def parse_env_file(
    text: str,
    source: str,
    environ: Mapping[str, str],
    warnings: Warnings,
    service: Mapping[str, str] | None = None,
    earlier: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A service's ``env_file`` as compose reads it: :func:`parse_dotenv`, and each value not
    in single quotes interpolated (``${VAR}``, ``$$``...) from, first to last: ``environ``
    (the process over ``.env``), the service's ``environment``, the lines above it in this
    file, the ``earlier`` env files' values."""
    values: dict[str, str] = {}
    for name, raw in _raw_values(text, source, environ).items():
        value = _unquote(raw)
        if "$" in value and not raw.strip().startswith("'"):
            lookup = ChainMap(dict(environ), dict(service or {}), values, dict(earlier or {}))
            value = substitute_value(value, lookup, Key(source, name), warnings)
        values[name] = value
    return values


def _raw_values(text: str, source: str, environ: Mapping[str, str]) -> dict[str, str]:
    lines = [re.sub(r"^(\s*)export\s+", r"\1", line) for line in text.splitlines()]
    return envfile.parse("\n".join(lines), source, environ)


def _unquote(value: str) -> str:
    text = value.strip()
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1]
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].replace("\\n", "\n").replace('\\"', '"')
    comment = re.search(r"\s#", text)
    return text[: comment.start()].rstrip() if comment else text


def read_dotenv(directory: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The ``.env`` beside the compose file (empty when there is none)."""
    path = directory / DOTENV
    if not path.is_file():
        return {}
    return parse_dotenv(read_text(path, DOTENV), DOTENV, environ)
