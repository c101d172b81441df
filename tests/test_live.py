"""``devd up`` while the developer changes devd.toml, or presses keys in its terminal."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_up import Sample, _remove_project, _running
from tests.updriver import UpProcess, fetch, free_port, served, wait_for

pytestmark = pytest.mark.engine


@pytest.fixture
def sample(
    tmp_path: Path, test_id: str, docker_client: Any, busybox_image: str
) -> Iterator[Sample]:
    project = Sample(tmp_path / "proj", f"t{test_id}", free_port())
    yield project
    _remove_project(docker_client, project.name)


def _toml(sample: Sample, port: int, extra: str = "") -> str:
    return (
        f'project = "{sample.name}"\ndebounce_ms = 50\n[services.app]\n'
        f'ports = ["{port}:8000"]\nbuild_args = {{ BASE = "devd-busybox:latest" }}\n'
        f"stop_timeout = 2\n{extra}"
    )


def test_changed_service_config_is_applied_live(sample: Sample) -> None:
    """Editing devd.toml (a new port) replaces the container with the new configuration."""
    up = UpProcess(sample.root)
    try:
        served(sample.port, "version-1")
        new_port = free_port()
        sample.write("devd.toml", _toml(sample, new_port))
        served(new_port, "version-1")
        event = up.wait_event("configuration reloaded")
        assert event["changed"] == ["app"]
        assert fetch(sample.port) is None
    finally:
        assert up.stop() == 0


def test_invalid_config_is_reported_and_service_goes_on(sample: Sample) -> None:
    """A broken devd.toml gets the one-line error; the running service is not touched."""
    up = UpProcess(sample.root)
    try:
        served(sample.port, "version-1")
        sample.write("devd.toml", _toml(sample, sample.port, 'code_action = "fast"\n'))
        event = up.wait_event("configuration invalid; services go on unchanged")
        assert "devd.toml: services.app.code_action" in event["error"]
        assert "version-1" in (fetch(sample.port) or "")
        sample.write("www/index.html", "still-watching\n")
        served(sample.port, "still-watching")
    finally:
        assert up.stop() == 0


def test_added_and_removed_services_follow_the_config(sample: Sample, docker_client: Any) -> None:
    """A service added to devd.toml starts; removing it stops and removes its container."""
    up = UpProcess(sample.root)
    try:
        served(sample.port, "version-1")
        port2 = free_port()
        second = (
            f'[services.web]\nports = ["{port2}:8000"]\n'
            'build_args = { BASE = "devd-busybox:latest" }\nstop_timeout = 2\n'
        )
        sample.write("devd.toml", _toml(sample, sample.port) + second)
        served(port2, "version-1")
        assert up.wait_event("configuration reloaded")["added"] == ["web"]
        sample.write("devd.toml", _toml(sample, sample.port))
        up.wait_event("service removed", service="web")
        wait_for(lambda: fetch(port2) is None, 20, "web stopped")
        services = {c.labels["devd.service"] for c in _running(docker_client, sample.name)}
        assert services == {"app"}
    finally:
        assert up.stop() == 0


def test_keys_on_a_terminal_rebuild_and_quit(sample: Sample) -> None:
    """On a TTY: the keys are listed once, `R` rebuilds without cache, `q` quits with 0."""
    controller, terminal = os.openpty()
    process = UpProcess(sample.root, stdin=terminal)
    os.close(terminal)
    try:
        served(sample.port, "version-1")
        legend = [e for e in process.events if str(e.get("event", "")).startswith("keys: ")]
        assert legend
        assert "R rebuild without cache" in legend[0]["event"]
        os.write(controller, b"R")
        event = process.wait_event("running", count=2)
        assert event["trigger"] == "rebuild without cache"
        os.write(controller, b"q")
        assert process.stop(timeout=60) == 0
    finally:
        process.kill()
        os.close(controller)
