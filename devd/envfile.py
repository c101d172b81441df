"""``env_file``: the docker ``--env-file`` format, read into a mapping.

One ``KEY=VALUE`` per line; blank lines and lines starting with ``#`` are skipped; a bare
``KEY`` takes its value from devd's own environment (left out when unset). Values are taken
as written: no quotes are removed, as in ``docker run --env-file``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from devd.errors import ConfigError


def parse(text: str, source: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables ``text`` defines; ``source`` names the file in error messages."""
    environ = os.environ if environ is None else environ
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        key, has_value, value = line.partition("=")
        key = key.strip()
        if not key or any(char.isspace() for char in key):
            raise ConfigError(f"{source}:{number}: expected KEY=VALUE, got {raw.strip()!r}")
        if has_value:
            values[key] = value
        elif key in environ:
            values[key] = environ[key]
    return values


def read(path: Path, key: str) -> dict[str, str]:
    """Read the env file at ``path``; ``key`` is the configuration key that names it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise ConfigError(
            f"{key}: env file {path} does not exist; create it or remove {key}"
        ) from error
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{key}: cannot read env file {path}: {error}") from error
    return parse(text, str(path))
