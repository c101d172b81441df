"""``devd up`` while the developer changes devd.toml, or presses keys in its terminal."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from tests.conftest import running_containers
from tests.updriver import Sample, UpProcess, fetch, free_port, served, wait_for

pytestmark = pytest.mark.engine


def test_changed_service_config_is_applied_live(sample: Sample) -> None:
    """Editing devd.toml (a new port) replaces the container with the new configuration."""
    up = UpProcess(sample.root)
    try:
        served(sample.port, "version-1")
        new_port = free_port()
        sample.write("devd.toml", sample.devd_toml(new_port))
        served(new_port, "version-1")
        event = up.wait_event("configuration reloaded")
        assert event["changed"] == ["app"]
        assert fetch(sample.port) is None
    finally:
        assert up.stop() == 0


def test_a_changed_ignore_list_alone_keeps_the_container(
    sample: Sample, docker_client: Any
) -> None:
    """devd's own ignore list only decides what is watched: editing it reloads, the container
    runs on untouched, and a newly ignored file builds nothing."""
    up = UpProcess(sample.root)
    try:
        served(sample.port, "version-1")
        before = [c.id for c in running_containers(docker_client, sample.name)]
        toml = sample.devd_toml(sample.port).replace(
            "debounce_ms = 50\n", 'debounce_ms = 50\nignore = ["**/*.draft"]\n'
        )
        sample.write("devd.toml", toml)
        assert up.wait_event("configuration reloaded")["changed"] == ["app"]
        sample.write("www/page.draft", "draft")
        time.sleep(1.5)
        assert len(up.named("building")) == 1  # the start-up build only
        assert [c.id for c in running_containers(docker_client, sample.name)] == before
    finally:
        assert up.stop() == 0


def test_invalid_config_is_reported_and_service_goes_on(sample: Sample) -> None:
    """A broken devd.toml gets the one-line error; the running service is not touched."""
    up = UpProcess(sample.root)
    try:
        served(sample.port, "version-1")
        sample.write("devd.toml", sample.devd_toml(sample.port, 'code_action = "fast"\n'))
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
        sample.write("devd.toml", sample.devd_toml(sample.port) + second)
        served(port2, "version-1")
        assert up.wait_event("configuration reloaded")["added"] == ["web"]
        sample.write("devd.toml", sample.devd_toml(sample.port))
        up.wait_event("service removed", service="web")
        wait_for(lambda: fetch(port2) is None, 20, "web stopped")
        services = {
            c.labels["devd.service"] for c in running_containers(docker_client, sample.name)
        }
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
