"""The sample project every contender is measured on: a tiny busybox web server.

Two flavours of the same app, as the issue describes them:

* ``live=False`` (the ``rebuild`` and ``sync-restart`` measurements): the app copies its
  files aside at start and serves the copy, so new content needs a new or restarted
  container, as a Python app's code does;
* ``live=True`` (the ``sync`` measurement): the app serves ``/app/www`` itself, so a file
  copied into the running container is served at once.

``deps.txt`` feeds a RUN step of known duration (:data:`DEPENDENCY_SECONDS`): the
dependency change. ``.dockerignore`` excludes ``node_modules`` and the notes.

``copy_all=True`` (the ``weight`` mode) copies the whole context (``COPY . /app/``), which
:meth:`Sample.add_assets` weighs down with incompressible asset files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

BASE_IMAGE = "devd-busybox:latest"
DEPENDENCY_SECONDS = 1.0
CONTAINER_PORT = 8000
WWW_TARGET = "/app/www"


def dockerfile(live: bool, copy_all: bool = False) -> str:
    start = (
        f"exec httpd -f -p {CONTAINER_PORT} -h /app/www"
        if live
        else "mkdir -p /srv && cp -r /app/www/. /srv/ && cp /deps.txt /srv/deps.txt && "
        f"exec httpd -f -p {CONTAINER_PORT} -h /srv"
    )
    return (
        f"FROM {BASE_IMAGE}\n"
        "WORKDIR /app\n"
        "COPY deps.txt .\n"
        f"RUN sleep {DEPENDENCY_SECONDS:g} && cp deps.txt /deps.txt\n"
        + ("COPY . /app/\n" if copy_all else "COPY www/ /app/www/\n")
        + f"CMD {json.dumps(['sh', '-c', start])}\n"
    )


DOCKERIGNORE = "node_modules\n*.md\n"

# Compose watch's action for a code change, per devd code_action.
COMPOSE_ACTION = {"rebuild": "rebuild", "sync-restart": "sync+restart", "sync": "sync"}


class Sample:
    """One copy of the sample project, for one contender, in its own directory."""

    def __init__(self, root: Path, *, live: bool, pages: int = 20, copy_all: bool = False) -> None:
        self.root = root
        self.live = live
        root.mkdir(parents=True, exist_ok=True)
        self.write("Dockerfile", dockerfile(live, copy_all))
        self.write(".dockerignore", DOCKERIGNORE)
        self.write("deps.txt", "deps-initial\n")
        self.write("README.md", "notes, excluded by .dockerignore\n")
        self.write("www/index.html", "index-initial\n")
        for number in range(pages):
            self.write(f"www/page{number}.html", f"page {number}\n")

    def write(self, name: str, text: str) -> None:
        """Save a file the way an editor writing in place does (truncate, write, close)."""
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w") as handle:
            handle.write(text)

    def add_assets(self, total_mb: int, file_mb: int = 10) -> None:
        """``total_mb`` MB of random (incompressible) bytes in ``assets/``, ``file_mb`` a
        file."""
        directory = self.root / "assets"
        directory.mkdir(parents=True, exist_ok=True)
        for number in range(max(1, total_mb // file_mb)):
            (directory / f"asset{number:03d}.bin").write_bytes(os.urandom(file_mb * 2**20))

    def add_tree(self, top: str, files: int, per_dir: int = 50, depth_dirs: int = 2) -> None:
        """``files`` small files under ``top`` in nested package-like directories."""
        made = 0
        package = 0
        while made < files:
            base = self.root / top / f"pkg-{package:05d}"
            for sub in range(depth_dirs):
                directory = base / ("lib" if sub == 0 else f"lib/sub{sub}")
                directory.mkdir(parents=True, exist_ok=True)
                for number in range(per_dir // depth_dirs):
                    if made >= files:
                        break
                    (directory / f"f{number}.js").write_text(f"// {package} {sub} {number}\n")
                    made += 1
            package += 1

    def devd_toml(self, project: str, port: int, code_action: str, debounce_ms: int | None) -> None:
        lines = [f'project = "{project}"']
        if debounce_ms is not None:
            lines.append(f"debounce_ms = {debounce_ms}")
        lines += [
            "[services.app]",
            f'ports = ["127.0.0.1:{port}:{CONTAINER_PORT}"]',
            f'code_action = "{code_action}"',
        ]
        self.write("devd.toml", "\n".join(lines) + "\n")

    def compose_yaml(self, port: int, code_action: str, labels: dict[str, str]) -> None:
        action = COMPOSE_ACTION[code_action]
        code_rule = f"        - action: {action}\n          path: ./www\n"
        if action != "rebuild":
            code_rule += f"          target: {WWW_TARGET}\n"
        label_lines = "".join(f"        {key}: {json.dumps(val)}\n" for key, val in labels.items())
        self.write(
            "compose.yaml",
            "services:\n"
            "  app:\n"
            "    build:\n"
            "      context: .\n"
            "      labels:\n"
            f"{label_lines}"
            "    init: true\n"
            f'    ports: ["127.0.0.1:{port}:{CONTAINER_PORT}"]\n'
            "    develop:\n"
            "      watch:\n"
            f"{code_rule}"
            "        - action: rebuild\n"
            "          path: ./deps.txt\n",
        )
