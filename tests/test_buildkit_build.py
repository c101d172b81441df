"""Building with BuildKit on the real engine (``builder = "buildkit"``, what ``auto`` means on
a Linux engine): what the image holds, the options devd passes, cache mounts, and the
Dockerfile features only BuildKit has. The engine judges classification under both builders
in test_judge.py; devd up's behaviour under BuildKit is every devd up test (the default)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from devd.engine.engine import BuildResult, Engine
from devd.errors import BuildFailed
from tests.builds import build_like_devd
from tests.conftest import remove_project
from tests.registry import Registry
from tests.updriver import DEVD

pytestmark = pytest.mark.engine


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def build(
    root: Path,
    engine: Engine,
    tag: str,
    labels: dict[str, str],
    *,
    no_cache: bool = False,
    build_args: dict[str, str] | None = None,
    on_line: Any = None,
) -> BuildResult:
    """Build ``root`` with BuildKit as devd builds its service ``app``."""
    return build_like_devd(
        root,
        engine,
        tag,
        labels,
        builder="buildkit",
        build_args=build_args,
        no_cache=no_cache,
        on_line=on_line,
    )


def listing(docker_client: Any, tag: str, command: str) -> str:
    output: bytes = docker_client.containers.run(tag, ["sh", "-c", command], remove=True)
    return output.decode()


@pytest.fixture
def project(tmp_path: Path, busybox_image: str, test_id: str) -> Path:
    root = tmp_path / "proj"
    write(root, {"devd.toml": f'[services.app]\nbuild_args = {{ BASE = "{busybox_image}" }}\n'})
    return root


def test_the_image_holds_no_excluded_file_and_no_ignore_file_it_excludes(
    project: Path, engine: Engine, docker_client: Any, image_tag: str, test_labels: dict[str, str]
) -> None:
    """BuildKit applies no ignore file to a tar body: devd's context leaves out what the
    ignore file excludes (a secret, a directory, the ignore file itself), and adds no
    .dockerignore of its own for ``COPY . .`` to pick up."""
    write(
        project,
        {
            "Dockerfile": "ARG BASE\nFROM ${BASE}\nCOPY . /out/\n",
            ".dockerignore": "secret.txt\nlogs/\n.dockerignore\n",
            "secret.txt": "s3cret\n",
            "logs/a.log": "x\n",
            "app.py": "print(1)\n",
        },
    )
    result = build(project, engine, image_tag, test_labels)
    assert result.builder == "buildkit"
    files = listing(docker_client, image_tag, "cd /out && find . -type f | sort").split()
    assert "./app.py" in files
    assert not {"./secret.txt", "./logs/a.log", "./.dockerignore"} & set(files), files


def test_labels_args_target_and_no_cache_reach_the_build(
    project: Path, engine: Engine, docker_client: Any, image_tag: str, test_labels: dict[str, str]
) -> None:
    """Labels are on the image, a build arg reaches RUN, the target stage is built and a stage
    it does not need is skipped (it would fail), and no_cache rebuilds every step."""
    write(
        project,
        {
            "Dockerfile": (
                "ARG BASE\nFROM ${BASE} AS broken\nRUN exit 7\n\n"
                'FROM ${BASE} AS app\nARG GREETING\nRUN echo "$GREETING" > /greeting\n'
                "COPY x /x\n\nFROM app AS later\nRUN exit 8\n"
            ),
            "x": "x\n",
            "devd.toml": '[services.app]\ntarget = "app"\n',
        },
    )
    args = {"BASE": "devd-busybox:latest", "GREETING": f"hello {test_labels}"}
    first = build(project, engine, image_tag, test_labels, build_args=args)
    image = docker_client.images.get(image_tag)
    assert all(image.labels.get(key) == value for key, value in test_labels.items())
    assert listing(docker_client, image_tag, "cat /greeting").strip() == f"hello {test_labels}"
    assert [step.line for step in first.steps] == [5, 7, 8]  # the broken stages never ran
    again = build(project, engine, image_tag, test_labels, build_args=args, no_cache=True)
    assert [step.keyword for step in again.rebuilt] == ["RUN", "COPY"]


def test_a_cache_mount_keeps_what_the_last_run_of_the_step_left(
    project: Path, engine: Engine, image_tag: str, test_labels: dict[str, str], test_id: str
) -> None:
    """A dependency change re-runs the install step, and the step finds in its
    ``--mount=type=cache`` target what the previous run left there (pip's download cache)."""
    write(
        project,
        {
            "Dockerfile": (
                "ARG BASE\nFROM ${BASE}\nWORKDIR /app\n"
                f"RUN --mount=type=cache,target=/cache,id=devd-{test_id} "
                "--mount=type=bind,source=requirements.txt,target=requirements.txt "
                "cat /cache/last 2>/dev/null || echo none; cp requirements.txt /cache/last\n"
                "COPY . .\n"
            ),
            "requirements.txt": f"first {test_id}\n",
        },
    )
    first = build(project, engine, image_tag, test_labels)
    assert ("none",) in [step.output for step in first.rebuilt]
    write(project, {"requirements.txt": f"second {test_id}\n"})
    second = build(project, engine, image_tag, test_labels)
    (install,) = [step for step in second.rebuilt if step.keyword == "RUN"]
    assert install.output == (f"first {test_id}",)


def test_automatic_platform_args_and_copy_chmod_build(
    project: Path, engine: Engine, docker_client: Any, image_tag: str, test_labels: dict[str, str]
) -> None:
    """``FROM --platform=$BUILDPLATFORM`` (awesome-compose's samples) and ``COPY --chmod``
    build: BuildKit sets the platform ARGs."""
    write(
        project,
        {
            "Dockerfile": (
                "ARG BASE\nFROM --platform=$BUILDPLATFORM ${BASE} AS build\nARG TARGETARCH\n"
                'RUN echo "$TARGETARCH" > /arch\n\nFROM ${BASE}\n'
                "COPY --from=build /arch /arch\nCOPY --chmod=750 run.sh /run.sh\n"
            ),
            "run.sh": "echo run\n",
        },
    )
    build(project, engine, image_tag, test_labels)
    shown = listing(docker_client, image_tag, "cat /arch; stat -c %a /run.sh").split()
    assert shown == ["amd64", "750"]


def test_a_failing_step_names_its_dockerfile_line_and_output(
    project: Path, engine: Engine, image_tag: str, test_labels: dict[str, str]
) -> None:
    """A RUN that fails: the message names the Dockerfile line, the instruction and the exit
    status, and keeps the step's last output lines."""
    write(
        project,
        {"Dockerfile": "ARG BASE\nFROM ${BASE}\nWORKDIR /w\nRUN echo one; echo two >&2; exit 4\n"},
    )
    with pytest.raises(BuildFailed) as caught:
        build(project, engine, image_tag, test_labels)
    error = caught.value
    assert str(error).startswith(
        "build failed at Dockerfile:4 (RUN echo one; echo two >&2; exit 4)"
    )
    assert error.command_status == 4
    assert sorted(error.output) == ["one", "two"]  # stdout and stderr: no order between them


def test_verbose_output_names_each_step_then_its_lines(
    project: Path, engine: Engine, image_tag: str, test_labels: dict[str, str], test_id: str
) -> None:
    """``-v``: each step as it starts (cached ones say so), then what it prints."""
    write(
        project,
        {"Dockerfile": f"ARG BASE\nFROM ${{BASE}}\nRUN echo said-{test_id}\n"},
    )
    lines: list[str] = []
    build(project, engine, image_tag, test_labels, on_line=lines.append)
    assert lines[-2:] == [f"[2/2] RUN echo said-{test_id}", f"said-{test_id}"]
    again: list[str] = []
    build(project, engine, image_tag, test_labels, on_line=again.append)
    assert again[-1] == f"[2/2] RUN echo said-{test_id} (cached)"


def devd_build(root: Path, docker_config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DEVD, "-C", str(root), "build"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DOCKER_CONFIG": str(docker_config), "PYTHONUNBUFFERED": "1"},
    )


@pytest.mark.parametrize("builder", ["buildkit", "classic"])
def test_a_base_image_not_in_the_store_is_pulled_with_the_users_credentials(
    builder: str,
    tmp_path: Path,
    registry: Registry,
    docker_client: Any,
    busybox_image: str,
    test_id: str,
) -> None:
    """BuildKit without a session cannot resolve a base the engine does not have: devd pulls
    it first through the images API, with the credentials of the user's Docker config; a
    wrong password is one line naming the image and the registry, exit 1. The same under the
    classic builder (which would pull by itself, but say the failure in the engine's words)."""
    base = f"{registry.address}/devd-base-{test_id}"
    docker_client.images.get(busybox_image).tag(base, "1")
    auth = {"username": registry.user, "password": registry.password}
    pushed = docker_client.images.push(base, "1", auth_config=auth, stream=True, decode=True)
    assert not [chunk for chunk in pushed if "error" in chunk]
    docker_client.images.remove(f"{base}:1")
    project = tmp_path / "proj"
    name = f"t{test_id}"
    write(
        project,
        {
            "Dockerfile": f"FROM {base}:1\nRUN echo built-on-pulled-base\n",
            "devd.toml": f'project = "{name}"\nbuilder = "{builder}"\n',
        },
    )
    try:
        wrong = devd_build(project, registry.docker_config(tmp_path / "wrong", "bad-password"))
        assert wrong.returncode == 1, wrong.stderr
        failed = [line for line in wrong.stderr.splitlines() if "build failed" in line]
        assert failed
        assert f"base image '{base}:1' is not in the engine's image store" in failed[0]
        assert f"the registry {registry.address} refused the credentials" in failed[0]
        right = devd_build(project, registry.docker_config(tmp_path / "right"))
        assert right.returncode == 0, right.stderr
        assert docker_client.images.get(f"{base}:1")
    finally:
        remove_project(docker_client, name)
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.images.remove(f"{base}:1")
