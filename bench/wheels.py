"""The ``dependency-exec`` sample: a Python app on devd-python:3.11 whose 30 dependencies are
local wheels, installed by ``pip install --no-index --find-links wheels/ -r requirements.txt``
(builds have no network here). The save adds one wheel and its requirement; "served" is the
app answering with the new package among those it imported.

The app, its Dockerfile and the wheel writer are tests/wheelapp.py's, the ones the engine
tests of ``dependency_action = "exec"`` run (tests/test_installing.py): the bench measures
the project those tests check, not a copy of it that could drift. That module is plain
standard-library code (no pytest, no fixtures), so importing it from here costs nothing; the
bench runs from the repository root (``python -m bench``), where ``tests`` is a package.

The wheels are the tests' with a realistic amount of code in them: tiny wheels install in
about a second, which would flatter a rebuild. Each package here has :data:`MODULES`
generated modules of about :data:`MODULE_BYTES` (bench/README.md: why these sizes).
"""

from __future__ import annotations

from pathlib import Path

from bench.sample import CONTAINER_PORT
from tests.wheelapp import PYTHON_IMAGE, add_package, package, write_app

PACKAGES = 30  # installed at start; each round adds one more
MODULES = 20  # per package, besides __init__.py (which imports them)
MODULE_BYTES = 12_000  # about; 20 x 12 KB = 240 KB of source per package

__all__ = ["MODULES", "MODULE_BYTES", "PACKAGES", "PYTHON_IMAGE", "WheelSample"]


class WheelSample:
    """One copy of the wheel app, for one contender. ``marker`` makes its wheels (and so its
    build cache) its own: no contender's build reuses another's layers."""

    def __init__(self, root: Path, marker: str) -> None:
        self.root = root
        self.marker = marker
        self.packages = PACKAGES
        root.mkdir(parents=True, exist_ok=True)
        write_app(root, PACKAGES, marker, modules=MODULES, module_bytes=MODULE_BYTES)

    @property
    def served(self) -> str:
        """What the app serves once it has imported every package required: the last name,
        then the end of that line."""
        return f" {package(self.packages - 1)}\n"

    def add_package(self) -> None:
        """The save: one more wheel in wheels/, then its line in requirements.txt."""
        add_package(self.root, self.packages, self.marker, MODULES, MODULE_BYTES)
        self.packages += 1

    def write(self, name: str, text: str) -> None:
        (self.root / name).write_text(text)

    def devd_toml(
        self, project: str, port: int, dependency_action: str, debounce_ms: int | None
    ) -> None:
        lines = [f'project = "{project}"']
        if debounce_ms is not None:
            lines.append(f"debounce_ms = {debounce_ms}")
        lines += [
            "[services.app]",
            f'ports = ["127.0.0.1:{port}:{CONTAINER_PORT}"]',
            f'dependency_action = "{dependency_action}"',
        ]
        self.write("devd.toml", "\n".join(lines) + "\n")

    def compose_yaml(self, port: int, code_action: str, labels: dict[str, str]) -> None:
        """Compose's rules for the same project: every save is a ``rebuild`` (the one
        ``code_action`` this sample has)."""
        if code_action != "rebuild":
            raise ValueError(f"the wheel sample rebuilds on every save, not {code_action!r}")
        label_lines = "".join(f'        {key}: "{value}"\n' for key, value in labels.items())
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
            "        - action: rebuild\n"
            "          path: ./wheels\n"
            "        - action: rebuild\n"
            "          path: ./requirements.txt\n"
            "        - action: rebuild\n"
            "          path: ./app.py\n",
        )
