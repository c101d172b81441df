"""``dependency_action = "exec"`` against the real engine: a dependency save installs only the
new package in the running container, the app imports it after the restart, the image
catches up on the next rebuild; a failing exec and an unsafe step fall back to a rebuild;
the step's USER, WORKDIR, ENV and ARG values are honoured.

The app (tests/wheelapp.py) installs 30 local wheels with ``pip install --no-index`` on
devd-python:3.11 (builds have no network) and serves the names of what it imported.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from tests.conftest import missing, remove_project
from tests.updriver import UpProcess, free_port, run_devd, served
from tests.wheelapp import (
    INSTALL,
    PYTHON_IMAGE,
    USER_DOCKERFILE,
    add_package,
    package,
    write_app,
)

pytestmark = pytest.mark.engine

PACKAGES = 30


class WheelProject:
    def __init__(self, root: Path, name: str, port: int) -> None:
        self.root, self.name, self.port = root, name, port

    def configure(self, extra: str = "") -> None:
        (self.root / "devd.toml").write_text(
            f'project = "{self.name}"\n[services.app]\nports = ["{self.port}:8000"]\n'
            f'stop_timeout = 2\ndependency_action = "exec"\n{extra}'
        )


@pytest.fixture
def project(tmp_path: Path, test_id: str, docker_client: Any) -> Iterator[WheelProject]:
    try:
        docker_client.images.get(PYTHON_IMAGE)
    except docker.errors.ImageNotFound:
        missing(f"the base image {PYTHON_IMAGE} is missing; run scripts/setup-engine --python")
    root = tmp_path / "wheels-app"
    root.mkdir()
    found = WheelProject(root, f"t{test_id}", free_port())
    yield found
    remove_project(docker_client, found.name)


def imported(upto: int) -> str:
    return "imported " + " ".join(package(i) for i in range(upto))


def status(project: WheelProject) -> dict[str, Any]:
    result = run_devd(project.root, "status", "--json")
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows[0]


def test_a_new_requirement_installs_only_it_and_the_image_catches_up_later(
    project: WheelProject, test_id: str
) -> None:
    """Adding one wheel and its requirement to 30: the install step re-runs in the running
    container (pip says the 30 are already satisfied and installs one), its output streamed
    as build output, the container restarts and imports it; status says the image is behind
    until a code save's rebuild, which replaces the container with an image that has it."""
    write_app(project.root, PACKAGES, test_id)
    project.configure()
    up = UpProcess(project.root)
    try:
        served(project.port, imported(PACKAGES) + "\n", timeout=120)
        up.wait_event("running", service="app")
        add_package(project.root, PACKAGES, test_id)
        served(project.port, imported(PACKAGES + 1), timeout=120)
        done = up.wait_event("installed", service="app")
        assert done["image"] == "behind"
        assert done["step"] == "Dockerfile:7"
        started = up.wait_event("installing", service="app")
        assert started["command"] == f"/bin/sh -c '{INSTALL}'"
        lines = [e["line"] for e in up.named("build", service="app")]
        assert sum("Requirement already satisfied" in line for line in lines) == PACKAGES
        assert any(f"Successfully installed {package(PACKAGES)}-1.0" in ln for ln in lines)
        assert not up.named("building", count=2), "an exec builds nothing"
        assert "behind: requirements.txt" in status(project)["last_build"]

        (project.root / "app.py").write_text((project.root / "app.py").read_text() + "# v2\n")
        caught_up = up.wait_event("running", count=2, timeout=120)
        assert any(step.startswith("RUN pip install") for step in caught_up["rebuilt"])
        served(project.port, imported(PACKAGES + 1), timeout=60)
        assert "behind" not in status(project)["last_build"]
    finally:
        assert up.stop() == 0


def test_a_failing_exec_falls_back_to_a_rebuild_and_the_next_save_is_served(
    project: WheelProject, test_id: str
) -> None:
    """A requirement with no wheel: the exec fails (pip exits 1), the rebuild it falls back
    to fails the same way with the previous container still serving; the fix is served."""
    write_app(project.root, 3, test_id)
    project.configure()
    up = UpProcess(project.root)
    try:
        served(project.port, imported(3) + "\n", timeout=120)
        with (project.root / "requirements.txt").open("a") as handle:
            handle.write("missing-package\n")
        building = up.wait_event("building", count=2, timeout=120)
        assert building["not_exec"] == "the exec exited 1"
        up.wait_event("build failed; previous container still running", timeout=120)
        assert served(project.port, imported(3) + "\n")
        add_package(project.root, 3, test_id)  # pkg03 and its wheel ...
        text = (project.root / "requirements.txt").read_text().replace("missing-package\n", "")
        (project.root / "requirements.txt").write_text(text)  # ... and the bad line gone
        served(project.port, imported(4) + "\n", timeout=120)
    finally:
        assert up.stop() == 0


def test_an_unsafe_step_is_rebuilt_with_the_reason_in_the_cycle_line(
    project: WheelProject, test_id: str
) -> None:
    """An install step that also deletes (``rm -rf wheels``) is not re-run in the container:
    the cycle line names the command, and the rebuild serves the new package."""
    write_app(project.root, 3, test_id, install=f"{INSTALL} && rm -rf wheels")
    project.configure()
    up = UpProcess(project.root)
    try:
        served(project.port, imported(3) + "\n", timeout=120)
        add_package(project.root, 3, test_id)
        served(project.port, imported(4) + "\n", timeout=120)
        running = up.wait_event("running", count=2)
        assert running["not_exec"] == (
            "`rm -rf wheels` writes outside the install locations "
            "(exec re-runs only package installs)"
        )
        assert not up.named("installing")
    finally:
        assert up.stop() == 0


def test_the_steps_user_workdir_env_and_args_are_honoured(
    project: WheelProject, test_id: str, docker_client: Any
) -> None:
    """A non-root USER with a venv it owns, a relative -r in the WORKDIR, the venv's pip
    on the ENV PATH and the wheels found through an ARG (PIP_FIND_LINKS): the exec installs
    into the user's venv as that user."""
    write_app(project.root, 3, test_id, dockerfile=USER_DOCKERFILE)
    project.configure('build_args = { PIP_FIND_LINKS = "/home/app/src/wheels" }\n')
    up = UpProcess(project.root)
    try:
        served(project.port, imported(3) + "\nuser app cwd /home/app/src", timeout=120)
        add_package(project.root, 3, test_id)
        served(project.port, imported(4) + "\n", timeout=120)
        up.wait_event("installed", service="app")
        container = docker_client.containers.list(
            filters={"label": f"devd.project={project.name}"}
        )[0]
        site = "/home/app/venv/lib/python3.11/site-packages"
        code, owner = container.exec_run(["stat", "-c", "%U", f"{site}/{package(3)}"])
        assert (code, owner.decode().strip()) == (0, "app")
    finally:
        assert up.stop() == 0
