"""devd's own image: built by scripts/build-image on the local Python base and run the way the
README runs it, with the project mounted at /src and the engine's socket mounted.

The image is built once per session and reused while its sources are unchanged (the script
compares a hash of them with the image's label). Inside the image, ``devd`` is
image/entrypoint.py, which names the project after the host directory mounted at /src.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import docker.errors
import pytest
from docker.utils.build import exclude_paths

from devd.core.ignore import parse_patterns
from tests.conftest import TEST_LABEL, missing, project_images, remove_anchors, remove_images
from tests.updriver import free_port, served, wait_for

ROOT = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = ROOT / "scripts" / "build-image"
IMAGE = "devd:local"
PYTHON_IMAGE = "devd-python:3.11"

DOCKERFILE = """\
FROM devd-busybox:latest
COPY . /app
CMD ["sh", "-c", "mkdir -p /srv && cp -r /app/www/. /srv/ && exec httpd -f -p 8000 -h /srv"]
"""


def _entrypoint() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "devd_image_entrypoint", ROOT / "image" / "entrypoint.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


entrypoint = _entrypoint()


# The image's build context and entrypoint (no engine needed).


def test_build_context_holds_the_package_sources_only() -> None:
    """.dockerignore sends what the wheel and the entrypoint are made of, nothing else."""
    patterns = list(parse_patterns((ROOT / ".dockerignore").read_text()))
    sent = exclude_paths(str(ROOT), patterns, dockerfile="Dockerfile")
    files = {path for path in sent if (ROOT / path).is_file()}
    for needed in ("pyproject.toml", "README.md", "devd/cli.py", "config/defaults.toml"):
        assert needed in files
    assert "image/entrypoint.py" in files
    kept_out = ("tests/", ".git/", ".venv/", "examples/", ".ci/", "scripts/", ".hypothesis/")
    assert not [path for path in files if path.startswith(kept_out)]
    assert not [path for path in files if "__pycache__" in path or path.endswith(".pyc")]
    # scripts/build-image hashes these to tell whether devd:local is up to date
    hashed = re.search(r"^readonly SOURCES=\((.*)\)$", BUILD_SCRIPT.read_text(), re.MULTILINE)
    assert hashed is not None
    tops = [*hashed.group(1).split(), ".wheels"]  # .wheels/: only during a build
    assert not [path for path in files if path.split("/")[0] not in tops]


MOUNTINFO = """\
22 1 254:0 / / rw,relatime - ext4 /dev/vda rw
117 100 254:0 /home/ann/my\\040shop /src rw,relatime - ext4 /dev/vda rw
118 100 0:52 / /data rw - tmpfs tmpfs rw
"""


def test_entrypoint_names_the_project_after_the_host_directory() -> None:
    """The host directory's last component, unescaped; nothing for a whole file system."""
    assert entrypoint.host_name(MOUNTINFO, "/src") == "my shop"
    assert entrypoint.host_name(MOUNTINFO, "/data") is None
    assert entrypoint.host_name(MOUNTINFO, "/elsewhere") is None
    again = MOUNTINFO + "119 100 254:0 /home/ann/later /src rw - ext4 /dev/vda rw\n"
    assert entrypoint.host_name(again, "/src") == "later"


def test_entrypoint_finds_the_project_directory_in_devd_arguments() -> None:
    cwd = Path("/src")
    assert entrypoint.project_dir(["up"], cwd) == cwd
    assert entrypoint.project_dir(["--log-format", "json", "up"], cwd) == cwd
    assert entrypoint.project_dir(["-C", "sub", "up"], cwd) == cwd / "sub"
    assert entrypoint.project_dir(["--project-dir=/p", "status"], cwd) == Path("/p")
    assert entrypoint.project_dir(["-C/p", "--log-format", "json", "up"], cwd) == Path("/p")
    assert entrypoint.project_dir(["explain", "-C", "x"], cwd) == cwd


def test_entrypoint_leaves_a_project_that_names_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DEVD_PROJECT, devd.toml's or [tool.devd]'s ``project`` win over the directory's name."""
    monkeypatch.setattr(entrypoint, "MOUNTINFO", tmp_path / "mountinfo")
    (tmp_path / "mountinfo").write_text(f"1 0 254:0 /home/ann/shop {tmp_path} rw - ext4 x rw\n")
    monkeypatch.chdir(tmp_path)
    assert entrypoint.default_project([], {}) == "shop"
    assert entrypoint.default_project([], {"DEVD_PROJECT": "mine"}) is None
    (tmp_path / "pyproject.toml").write_text('[tool.devd]\nproject = "named"\n')
    assert entrypoint.default_project([], {}) is None
    (tmp_path / "devd.toml").write_text("debounce_ms = 10\n")  # devd.toml replaces [tool.devd]
    assert entrypoint.default_project([], {}) == "shop"
    (tmp_path / "devd.toml").write_text('project = "named"\n')
    assert entrypoint.default_project([], {}) is None


# The image itself, on the real engine.


class Sample:
    """A busybox project served over HTTP; it names no project: the directory names it."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.name = root.name
        self.port = port
        self.write("Dockerfile", DOCKERFILE)
        self.write("app.py", "print('hello')\n")
        self.write("www/index.html", f"version-1 {self.name}\n")
        self.write(
            "devd.toml",
            f'debounce_ms = 50\n[services.app]\nports = ["{port}:8000"]\nstop_timeout = 2\n',
        )

    def write(self, name: str, text: str) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture(scope="session")
def devd_image(docker_client: Any) -> str:
    """devd:local, built by scripts/build-image on the local Python base (reused when its
    sources have not changed). A failing build (the host's wheel download included) fails."""
    try:
        docker_client.images.get(PYTHON_IMAGE)
    except docker.errors.ImageNotFound:
        missing(f"the base image {PYTHON_IMAGE} is missing; run scripts/setup-engine --python")
    result = subprocess.run(
        [str(BUILD_SCRIPT), "--base", PYTHON_IMAGE, "--tag", IMAGE],
        capture_output=True,
        text=True,
        timeout=240,
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-3000:]
        pytest.fail(f"scripts/build-image failed ({result.returncode}):\n{output}", pytrace=False)
    return IMAGE


@pytest.fixture
def sample(
    tmp_path: Path, test_id: str, docker_client: Any, busybox_image: str
) -> Iterator[Sample]:
    """The sample project; afterwards the test's devd containers (label devd.test) and then
    everything the sample's project made (label devd.project) are removed."""
    project = Sample(tmp_path / f"t{test_id}", free_port())
    yield project
    for container in docker_client.containers.list(
        all=True, filters={"label": f"{TEST_LABEL}={test_id}"}
    ):
        container.remove(force=True)
    selector = {"label": f"devd.project={project.name}"}
    for container in docker_client.containers.list(all=True, filters=selector):
        container.remove(force=True)
    remove_anchors(docker_client, project.name)
    remove_images(docker_client, [i.id for i in project_images(docker_client, project.name)])


def _engine_socket() -> str:
    host = os.environ.get("DOCKER_HOST", "")
    return host.removeprefix("unix://") if host.startswith("unix://") else "/var/run/docker.sock"


def _docker_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", "run", *args], capture_output=True, text=True, timeout=60)


def _events(container: Any, name: str) -> list[dict[str, Any]]:
    events = []
    for line in container.logs(stdout=True, stderr=True).decode(errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("event") == name:
            events.append(event)
    return events


@pytest.mark.engine
@pytest.mark.timeout(300)
def test_explain_runs_from_the_image(devd_image: str, sample: Sample, test_id: str) -> None:
    """`docker run --rm -v DIR:/src devd:local explain --json app.py` reads the mounted project."""
    result = _docker_run(
        "--rm", "--label", f"{TEST_LABEL}={test_id}", "-v", f"{sample.root}:/src",
        devd_image, "explain", "--json", "app.py",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [answer] = json.loads(result.stdout)
    assert answer["path"] == "app.py"
    assert answer["kind"] == "code", answer
    assert answer["instruction"] == "COPY . /app"


@pytest.mark.engine
@pytest.mark.timeout(300)
def test_up_from_the_image_serves_a_save_and_stops_on_sigterm(
    devd_image: str, sample: Sample, test_id: str, docker_client: Any
) -> None:
    """devd in a container builds and runs the mounted project on the host's engine, sees a
    save on the bind mount, and on `docker stop` stops the project's container and exits 0."""
    started = _docker_run(
        "--detach", "--label", f"{TEST_LABEL}={test_id}", "-v", f"{sample.root}:/src",
        "-v", f"{_engine_socket()}:/var/run/docker.sock", devd_image, "--log-format", "json", "up",
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    devd = docker_client.containers.get(started.stdout.strip())

    def logs() -> str:
        return str(devd.logs(stdout=True, stderr=True).decode(errors="replace"))[-3000:]

    served(sample.port, f"version-1 {sample.name}", timeout=90)
    wait_for(lambda: _events(devd, "running"), 30, "the running event")
    project = {"label": f"devd.project={sample.name}"}  # named after the host directory
    assert docker_client.containers.list(filters=project), logs()

    sample.write("www/index.html", f"version-2 {sample.name}\n")
    served(sample.port, f"version-2 {sample.name}", timeout=60)
    second = wait_for(
        lambda: (found := _events(devd, "running"))[1:] and found[1], 30, "a second running event"
    )
    assert second["kind"] == "code", second
    assert "www/index.html" in second["trigger"]

    devd.stop(timeout=30)  # SIGTERM to devd, PID 1 in its container
    assert devd.wait(timeout=30)["StatusCode"] == 0, logs()
    assert docker_client.containers.list(filters=project) == [], logs()
