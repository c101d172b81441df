"""``devd doctor`` on the shapes of real projects (their Dockerfile and ignore file, written
here in our own words): the exact findings it must give, and no false alarm. Each fixture
names the project it stands for; the bad shapes at the end keep their warnings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from devd import config
from devd.core.builders import Builder
from devd.doctor import diagnose
from devd.doctor.gather import gather

DOCKER_INIT_IGNORE = (
    "**/.DS_Store\n**/__pycache__\n**/.venv\n**/.dockerignore\n**/.env\n**/.git\n"
    "**/.gitignore\n**/.vscode\n**/bin\n**/charts\n**/docker-compose*\n**/compose.y*ml\n"
    "**/Dockerfile*\n**/node_modules\n**/npm-debug.log\n**/obj\n**/secrets.dev.yaml\n"
    "LICENSE\nREADME.md\n"
)

# `docker init` for a Python app: a syntax line, a pinned slim base, an unprivileged user,
# dependencies from a bind-mounted requirements.txt with pip's cache in a cache mount.
DOCKER_INIT = {
    "Dockerfile": (
        "# syntax=docker/dockerfile:1\n"
        "ARG PYTHON_VERSION=3.11.7\n"
        "FROM python:${PYTHON_VERSION}-slim as base\n"
        "ENV PYTHONDONTWRITEBYTECODE=1\nENV PYTHONUNBUFFERED=1\n"
        "WORKDIR /app\n"
        "ARG UID=10001\n"
        'RUN adduser --disabled-password --gecos "" --home "/nonexistent" --shell '
        '"/sbin/nologin" --no-create-home --uid "${UID}" appuser\n'
        "RUN --mount=type=cache,target=/root/.cache/pip \\\n"
        "    --mount=type=bind,source=requirements.txt,target=requirements.txt \\\n"
        "    python -m pip install -r requirements.txt\n"
        "USER appuser\nCOPY . .\nEXPOSE 8000\n"
        "CMD python3 -m uvicorn app:app --host=0.0.0.0 --port=8000\n"
    ),
    ".dockerignore": DOCKER_INIT_IGNORE,
    "requirements.txt": "fastapi==0.110.0\nuvicorn==0.29.0\n",
    "app.py": "app = None\n",
    ".env": "DEBUG=1\n",
}

# uv's Docker guide: dependencies from the bind-mounted lock and pyproject without the
# project, then the code, then `uv sync` again to install the project alone.
UV = {
    "Dockerfile": (
        "FROM ghcr.io/astral-sh/uv:python3.12-bookworm-slim\n"
        "WORKDIR /app\nENV UV_COMPILE_BYTECODE=1\nENV UV_LINK_MODE=copy\n"
        "RUN --mount=type=cache,target=/root/.cache/uv \\\n"
        "    --mount=type=bind,source=uv.lock,target=uv.lock \\\n"
        "    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \\\n"
        "    uv sync --locked --no-install-project --no-dev\n"
        "COPY . /app\n"
        "RUN --mount=type=cache,target=/root/.cache/uv uv sync --locked --no-dev\n"
        'ENV PATH="/app/.venv/bin:$PATH"\nCMD ["fastapi", "dev", "src/app"]\n'
    ),
    ".dockerignore": ".venv\n**/__pycache__\n.git\n",
    "pyproject.toml": "[project]\nname = 'app'\n",
    "uv.lock": "version = 1\n",
    "src/app/__init__.py": "",
}

# awesome-compose's flask sample: a BuildKit-era file with platform ARGs, a cache mount,
# and a dev-envs stage written with heredocs that the compose target leaves out.
FLASK = {
    "Dockerfile": (
        "# syntax=docker/dockerfile:1.4\n"
        "FROM --platform=$BUILDPLATFORM python:3.10-alpine AS builder\n"
        "WORKDIR /app\nCOPY requirements.txt /app\n"
        "RUN --mount=type=cache,target=/root/.cache/pip \\\n    pip3 install -r requirements.txt\n"
        'COPY . /app\nENTRYPOINT ["python3"]\nCMD ["app.py"]\n\n'
        "FROM builder as dev-envs\n"
        "RUN <<EOF\napk update\napk add git\nEOF\n"
        'CMD ["app.py"]\n'
    ),
    "requirements.txt": "flask==3.0\n",
    "app.py": "print('hi')\n",
    "devd.toml": '[services.app]\ntarget = "builder"\n',
    ".dockerignore": ".git\n**/__pycache__\n",
}

# A Node app that copies its manifests with a glob before `npm install`; a Vite front end
# whose .env holds only a public URL.
NODE = {
    "Dockerfile": (
        "FROM node:20.11-alpine\nWORKDIR /app\nCOPY package*.json /app/\nRUN npm install\n"
        'COPY . /app\nCMD ["npm", "run", "dev"]\n'
    ),
    ".dockerignore": "node_modules\n.git\n",
    "package.json": "{}\n",
    "package-lock.json": "{}\n",
    "src/main.js": "\n",
    ".env": "VITE_API_URL=http://localhost:8000\nNODE_ENV=development\n",
}

# The full-stack FastAPI template's backend: poetry manifests copied with a glob (the lock
# optional), the install without the project, then the app.
POETRY = {
    "Dockerfile": (
        "FROM python:3.10.13-slim\nWORKDIR /app/\n"
        "RUN pip install poetry==1.8.2 && poetry config virtualenvs.create false\n"
        "COPY ./pyproject.toml ./poetry.lock* /app/\n"
        "RUN poetry install --no-root --no-interaction\n"
        "ENV PYTHONPATH=/app\nCOPY ./app /app/app\n"
    ),
    ".dockerignore": ".git\n**/__pycache__\n.venv\n",
    "pyproject.toml": "[tool.poetry]\nname = 'app'\n",
    "poetry.lock": "\n",
    "app/main.py": "\n",
}


ALWAYS = {"image-not-built", "context-size"}  # infos every project gets: not at issue here


def findings(
    tmp_path: Path, files: dict[str, str], builder: Builder, engine_major: int | None = 20
) -> set[tuple[str, str, int | None]]:
    """(check, level, line) of every finding doctor gives the project made of ``files``."""
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    project = config.load(tmp_path, environ={})
    service = project.services["app"]
    facts = dataclasses.replace(
        gather(project, service, None), builder=builder, engine_major=engine_major
    )
    return {(f.check, f.level, f.line) for f in diagnose(facts) if f.check not in ALWAYS}


def test_docker_init_under_buildkit_gives_only_the_syntax_info(tmp_path: Path) -> None:
    """docker init's project: nothing to warn about under BuildKit; the syntax line is
    explained (it is fetched from a registry); no secret (its .env is excluded)."""
    assert findings(tmp_path, DOCKER_INIT, "buildkit") == {("builder-syntax", "info", 1)}


def test_docker_init_under_the_classic_builder_names_the_mount_line(tmp_path: Path) -> None:
    """What stopped these projects: under the classic builder the RUN --mount line is a
    warning naming the line and the builder that builds it."""
    assert findings(tmp_path, DOCKER_INIT, "classic") == {
        ("builder-feature", "warning", 9),
        ("builder-syntax", "info", 1),
    }


def test_uvs_pattern_is_not_a_package_install_per_save(tmp_path: Path) -> None:
    """uv sync --no-install-project, COPY, uv sync: the dependencies are in the first layer;
    only the second sync's cost per save is an info, no order warning."""
    assert findings(tmp_path, UV, "buildkit") == {("run-after-code-copy", "info", 10)}


def test_flask_sample_builds_under_buildkit_and_names_its_features_under_classic(
    tmp_path: Path,
) -> None:
    """awesome-compose flask: under BuildKit with its syntax frontend nothing fails (the
    heredocs are the frontend's); under the classic builder each BuildKit-only line is named."""
    assert findings(tmp_path, FLASK, "buildkit") == {("builder-syntax", "info", 1)}
    classic = findings(tmp_path / "classic", FLASK, "classic")
    assert {(c, line) for c, level, line in classic if level == "warning"} == {
        ("builder-feature", 2),  # FROM --platform=$BUILDPLATFORM
        ("builder-feature", 5),  # RUN --mount
        ("builder-feature", 12),  # the heredoc
    }


def test_without_a_syntax_line_engine_20s_buildkit_cannot_read_a_heredoc(tmp_path: Path) -> None:
    files = {**FLASK, "Dockerfile": FLASK["Dockerfile"].split("\n", 1)[1]}
    assert ("builder-feature", "warning", 11) in findings(tmp_path, files, "buildkit", 20)
    assert findings(tmp_path / "new", files, "buildkit", 24) == set()


def test_glob_manifests_before_the_install_are_manifests(tmp_path: Path) -> None:
    """`COPY package*.json` and `COPY ./pyproject.toml ./poetry.lock*` copy manifests: no
    order warning; a .env of public settings is an info, not a secrets warning (the other
    info is real: `node_modules` in the ignore file matches only at the root)."""
    assert findings(tmp_path / "node", NODE, "buildkit") == {
        ("context-env-file", "info", None),
        ("ignore-root-only", "info", 1),
    }
    # (pip's cache left in the layer that installs poetry is true, and only an info)
    assert findings(tmp_path / "poetry", POETRY, "buildkit") == {("pip-cache", "info", 3)}


def test_without_an_engine_auto_gives_no_builder_finding(tmp_path: Path) -> None:
    """builder auto and no engine to ask: doctor cannot know the builder and says nothing."""
    for name, text in DOCKER_INIT.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    project = config.load(tmp_path, environ={})
    facts = gather(project, project.services["app"], None)
    assert facts.builder is None
    assert not [f for f in diagnose(facts) if f.check.startswith("builder")]


@pytest.mark.parametrize(
    ("dockerfile", "line"),
    [
        (
            "FROM python:3.12.2-slim\nWORKDIR /app\nCOPY . .\n"
            "RUN pip install -r requirements.txt\n",
            3,
        ),
        ("FROM python:3.12.2-slim\nCOPY *.py /app/\nRUN pip install -r /app/requirements.txt\n", 2),
        (
            "FROM python:3.12.2-slim\nRUN apt-get update && apt-get install -y gcc && rm -rf "
            "/var/lib/apt/lists/*\nCOPY . /app\nRUN pip install -r /app/requirements.txt\n",
            3,
        ),
    ],
    ids=["whole-context", "code-glob", "system-install-first"],
)
def test_the_bad_order_keeps_its_warning(tmp_path: Path, dockerfile: str, line: int) -> None:
    """Code copied before the package install: still the warning at the copy's line (an
    apt install before it does not count as the dependencies' layer)."""
    files = {"Dockerfile": dockerfile, ".dockerignore": ".git\n", "requirements.txt": "x\n"}
    assert ("order-code-before-install", "warning", line) in findings(tmp_path, files, "buildkit")


def test_a_env_file_with_secrets_keeps_the_warning_and_names_them(tmp_path: Path) -> None:
    """A .env holding a password URL, a token or a random-looking value is a warning that
    names the variables (not their values)."""
    files = {
        **NODE,
        ".env": "VITE_API_URL=http://localhost\nDATABASE_URL=postgres://u:hunter2@db/x\n"
        "STRIPE=sk4eC39HqLyjWDarjtT1zdp7dcXq\n",
    }
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    project = config.load(tmp_path, environ={})
    facts = dataclasses.replace(gather(project, project.services["app"], None), builder="buildkit")
    [secret] = [f for f in diagnose(facts) if f.check == "context-secrets"]
    assert secret.level == "warning"
    assert "secret-looking: DATABASE_URL, STRIPE" in secret.message
    assert "hunter2" not in secret.message
