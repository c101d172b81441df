"""Bad input while devd up runs: one clear message, the previous container keeps serving,
and devd keeps watching."""

from __future__ import annotations

import socket

import pytest

from tests.updriver import SAMPLE_DOCKERFILE as DOCKERFILE
from tests.updriver import Sample, UpProcess, fetch, run_devd, served

pytestmark = pytest.mark.engine


def test_dockerfile_that_does_not_parse_keeps_the_container(sample: Sample, up: UpProcess) -> None:
    """A save that breaks the Dockerfile is reported with its line; the old container serves."""
    served(sample.port, "version-1")
    sample.write("Dockerfile", DOCKERFILE + "BOGUS instruction\n")
    event = up.wait_event("definition invalid; keeping the running container")
    assert "Dockerfile:" in event["error"]
    assert "BOGUS" in event["error"]
    assert "version-1" in (fetch(sample.port) or "")
    sample.write("Dockerfile", DOCKERFILE)
    sample.write("www/index.html", "fixed\n")
    served(sample.port, "fixed")


def test_dockerfile_that_goes_missing_keeps_the_container(sample: Sample, up: UpProcess) -> None:
    """A deleted Dockerfile is reported by name; restoring it rebuilds."""
    served(sample.port, "version-1")
    (sample.root / "Dockerfile").unlink()
    event = up.wait_event("definition invalid; keeping the running container")
    assert "Dockerfile" in event["error"]
    assert "not found" in event["error"]
    assert "version-1" in (fetch(sample.port) or "")
    sample.write("www/index.html", "restored\n")
    sample.write("Dockerfile", DOCKERFILE)
    served(sample.port, "restored")


def test_missing_env_file_is_named_and_devd_keeps_watching(sample: Sample) -> None:
    """An env_file that does not exist is named in the error; creating it and saving recovers."""
    config = (sample.root / "devd.toml").read_text() + 'env_file = "app.env"\n'
    sample.write("devd.toml", config)
    up = UpProcess(sample.root)
    try:
        event = up.wait_event("failed")
        assert "app.env" in event["error"]
        assert "env_file" in event["error"]
        (sample.root / "app.env").write_text("GREETING=hi\n")
        sample.write("www/index.html", "with-env\n")
        served(sample.port, "with-env")
    finally:
        assert up.stop() == 0


def test_port_in_use_is_named_and_devd_keeps_watching(sample: Sample) -> None:
    """A host port already taken is named; freeing it and saving starts the container."""
    holder = socket.socket()
    holder.bind(("0.0.0.0", sample.port))
    holder.listen()
    up = UpProcess(sample.root)
    try:
        event = up.wait_event("failed")
        assert str(sample.port) in event["error"]
        holder.close()
        sample.write("www/index.html", "port-free\n")
        served(sample.port, "port-free")
    finally:
        holder.close()
        assert up.stop() == 0


def test_context_directory_that_does_not_exist_is_exit_2(sample: Sample) -> None:
    """A context that does not exist: one line naming it, exit 2, before anything starts."""
    config = (
        (sample.root / "devd.toml")
        .read_text()
        .replace("[services.app]\n", '[services.app]\ncontext = "nope"\n')
    )
    sample.write("devd.toml", config)
    result = run_devd(sample.root, "up", timeout=60)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("devd: ")]
    assert len(errors) == 1, result.stderr
    assert "services.app.context" in errors[0]
    assert "nope/" in errors[0]


@pytest.mark.parametrize(
    ("builder", "line", "expected"),
    [
        (
            "classic",
            "RUN --mount=type=cache,target=/c true\n",
            'Dockerfile:10: RUN --mount needs BuildKit (builder = "auto" or "buildkit")',
        ),
        (
            "buildkit",
            "RUN <<EOF\necho hi\nEOF\n",
            "Dockerfile:10: this engine's built-in Dockerfile frontend has no heredocs",
        ),
    ],
    ids=["mount-under-classic", "heredoc-on-engine-20"],
)
def test_a_feature_the_builder_lacks_is_one_line_naming_the_line_and_the_old_container_serves(
    sample: Sample, builder: str, line: str, expected: str
) -> None:
    """A saved Dockerfile line the builder cannot build is named in one line with what would
    build it; the running container keeps serving; removing the line is built again."""
    sample.write("devd.toml", sample.devd_toml(sample.port, f'builder = "{builder}"\n'))
    up = UpProcess(sample.root)
    try:
        served(sample.port, "version-1")
        sample.write("Dockerfile", DOCKERFILE + line)
        event = up.wait_event("build failed; previous container still running")
        assert expected in event["error"], event
        assert "\n" not in event["error"]
        assert "version-1" in (fetch(sample.port) or "")
        sample.write("Dockerfile", DOCKERFILE)
        sample.write("www/index.html", "fixed\n")
        served(sample.port, "fixed")
    finally:
        assert up.stop() == 0


def test_a_syntax_frontend_the_engine_cannot_fetch_is_one_line_naming_it(
    sample: Sample, up: UpProcess
) -> None:
    """``# syntax=`` names a frontend image BuildKit fetches from its registry; where none can
    be reached (this machine) the failure is one line naming the image and what to do, and
    the running container keeps serving."""
    served(sample.port, "version-1")
    sample.write("Dockerfile", "# syntax=docker/dockerfile:1\n" + DOCKERFILE)
    event = up.wait_event("build failed; previous container still running")
    assert event["error"].startswith(
        "build failed: Dockerfile: # syntax=docker/dockerfile:1: the engine could not fetch "
        "this Dockerfile frontend ("
    ), event
    assert event["error"].endswith("drop the line to build with the engine's own frontend")
    assert "version-1" in (fetch(sample.port) or "")
