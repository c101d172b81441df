"""The bundled example, run as the README's first command runs it (on the local Python base)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from tests.conftest import missing, project_images, remove_anchors, remove_images
from tests.updriver import UpProcess, free_port, served

pytestmark = pytest.mark.engine

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "hello"
PYTHON_IMAGE = "devd-python:3.11"


@pytest.fixture
def python_image(docker_client: Any) -> str:
    """The local Python base (scripts/setup-engine --python); no registry here."""
    try:
        docker_client.images.get(PYTHON_IMAGE)
    except docker.errors.ImageNotFound:
        missing(f"the base image {PYTHON_IMAGE} is missing")
    return PYTHON_IMAGE


@pytest.fixture
def example(
    tmp_path: Path, test_id: str, docker_client: Any, python_image: str
) -> Iterator[tuple[Path, str]]:
    project = tmp_path / "hello"
    shutil.copytree(EXAMPLE, project)
    name = f"hello{test_id}"
    yield project, name
    for container in docker_client.containers.list(
        all=True, filters={"label": f"devd.project={name}"}
    ):
        container.remove(force=True)
    remove_anchors(docker_client, name)
    remove_images(docker_client, [image.id for image in project_images(docker_client, name)])


@pytest.mark.timeout(300)
def test_example_comes_up_and_a_code_save_is_served(
    example: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's first command: the example (the Dockerfile ``docker init`` writes, with
    RUN --mount) runs under BuildKit, a save in its code is served, and a save of
    requirements.txt re-runs the install step, then serves again."""
    project, name = example
    port = free_port()
    monkeypatch.setenv("DEVD_SERVICES__APP__BUILD_ARGS", '{"BASE": "devd-python:3.11"}')
    monkeypatch.setenv("DEVD_SERVICES__APP__PORTS", f'["{port}:8000"]')
    monkeypatch.setenv("DEVD_PROJECT", name)
    up = UpProcess(project)
    try:
        served(port, "Hello from devd", timeout=180)
        (project / "app" / "page.html").write_text(f"<h1>Saved {name}</h1>\n")
        served(port, f"Saved {name}", timeout=60)
        assert up.wait_event("watching")["builders"] == {"app": "buildkit"}
        event = up.wait_event("running", count=2)
        assert event["kind"] == "code"
        assert not [step for step in event["rebuilt"] if step.startswith("RUN")]
        requirements = project / "requirements.txt"
        requirements.write_text(requirements.read_text() + f"# {name}\n")
        event = up.wait_event("running", count=3, timeout=120)
        assert event["kind"] == "dependency"
        assert [step for step in event["rebuilt"] if "pip install" in step], event
        served(port, f"Saved {name}", timeout=60)
    finally:
        assert up.stop() == 0
