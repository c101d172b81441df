"""``devd up`` on a compose project reloads when the compose file, its ``.env`` or an env file
it reads is saved, as it does for devd.toml: only the services that changed are touched, the
volumes a reload adds are created (labelled), and an invalid file is one line while the
services go on. Against the real engine, ``devd up`` as a subprocess."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devd.daemon.reload import NEW_COMPOSE_NAME
from tests.conftest import remove_project
from tests.test_resources import remove_stack
from tests.updriver import UpProcess

pytestmark = pytest.mark.engine

DOCKERFILE = 'ARG BASE\nFROM ${BASE}\nCMD ["sleep", "1000"]\n'
APP = """\
name: {name}
services:
  app:
    build:
      context: .
      args: {{BASE: devd-busybox:latest}}
    environment:
      GREETING: ${{GREETING}}
    env_file: config/app.env
    init: true
    stop_grace_period: 1s
"""
CACHE = """\
  cache:
    image: devd-busybox:latest
    command: ["sleep", "1000"]
    volumes:
      - data:/data
    init: true
    stop_grace_period: 1s
volumes:
  data:
"""


@pytest.fixture
def name(test_id: str, docker_client: Any, busybox_image: str) -> Iterator[str]:
    """The test's project name; afterwards its containers, images, networks, volumes go."""
    project_name = f"r{test_id}"
    yield project_name
    remove_project(docker_client, project_name)
    remove_stack(docker_client, f"devd.project={project_name}")


def write(root: Path, path: str, text: str) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def environment(client: Any, name: str, service: str) -> dict[str, str]:
    [container] = client.containers.list(filters={"label": f"devd.service={service}", "name": name})
    pairs = (item.partition("=") for item in container.attrs["Config"]["Env"])
    return {key: value for key, _, value in pairs}


def test_saving_compose_files_and_env_files_reloads_only_what_changed(
    tmp_path: Path, name: str, docker_client: Any
) -> None:
    """A saved ``.env`` and a saved env file recreate the service whose environment they
    change; a compose.yaml that adds a service with a named volume starts it and creates the
    volume with devd's labels, leaving the other service alone; an invalid compose.yaml is one
    error line and the services keep running; a new project name is not half-applied (compose
    names the network and volumes after it): it waits for the next devd up."""
    write(tmp_path, "Dockerfile", DOCKERFILE)
    write(tmp_path, ".env", "GREETING=one\n")
    write(tmp_path, "config/app.env", "FROM_FILE=1\n")
    write(tmp_path, "compose.yaml", APP.format(name=name))
    up = UpProcess(tmp_path)
    try:
        up.wait_event("running", service="app", timeout=120)
        time.sleep(0.3)  # the watcher is up before the first start ends; a margin all the same
        write(tmp_path, ".env", "GREETING=two\n")
        reloaded = up.wait_event("configuration reloaded")
        assert (reloaded["changed"], reloaded["added"]) == (["app"], [])
        up.wait_event("running", count=2, service="app", timeout=120)
        assert environment(docker_client, name, "app")["GREETING"] == "two"

        write(tmp_path, "config/app.env", "FROM_FILE=2\n")
        assert up.wait_event("configuration reloaded", count=2)["changed"] == ["app"]
        up.wait_event("running", count=3, service="app", timeout=120)
        assert environment(docker_client, name, "app")["FROM_FILE"] == "2"

        write(tmp_path, "compose.yaml", APP.format(name=name) + CACHE)
        reloaded = up.wait_event("configuration reloaded", count=3)
        assert (reloaded["changed"], reloaded["added"]) == ([], ["cache"])
        up.wait_event("running", service="cache", timeout=60)
        [volume] = docker_client.volumes.list(filters={"name": f"{name}_data"})
        assert volume.attrs["Labels"]["devd.project"] == name
        assert len(up.named("running", service="app")) == 3

        write(tmp_path, ".env", f"GREETING=three\nCOMPOSE_PROJECT_NAME=other{name}\n")
        renamed = up.wait_event(NEW_COMPOSE_NAME)
        assert renamed["name"] == f"other{name}"
        write(tmp_path, ".env", "GREETING=two\n")
        time.sleep(0.5)
        assert len(up.named("configuration reloaded")) == 3
        assert len(up.named("running", service="app")) == 3  # never recreated for "three"
        assert environment(docker_client, name, "app")["GREETING"] == "two"

        write(tmp_path, "compose.yaml", APP.format(name=name) + "    bogus: 1\n")
        invalid = up.wait_event("configuration invalid; services go on unchanged")
        assert invalid["error"].startswith("compose.yaml: services.app.bogus: unknown key")
        time.sleep(0.5)
        running = docker_client.containers.list(filters={"label": f"devd.project={name}"})
        assert sorted(c.labels["devd.service"] for c in running) == ["app", "cache"]
    finally:
        assert up.stop() == 0


def test_a_reload_naming_a_missing_external_volume_changes_nothing(
    tmp_path: Path, name: str, docker_client: Any
) -> None:
    """A saved compose file that mounts an external volume that does not exist is reported as
    an invalid configuration, and nothing is recreated: the engine is not left to create the
    volume (unlabelled) when a container mounts it."""
    write(tmp_path, "Dockerfile", DOCKERFILE)
    write(tmp_path, "config/app.env", "FROM_FILE=1\n")
    write(tmp_path, "compose.yaml", APP.format(name=name))
    up = UpProcess(tmp_path)
    try:
        up.wait_event("running", service="app", timeout=120)
        time.sleep(0.3)  # as above: a margin for the watcher
        external = (
            APP.format(name=name)
            + "    volumes: [shared:/shared]\n"
            + f"volumes:\n  shared: {{external: true, name: {name}_shared}}\n"
        )
        write(tmp_path, "compose.yaml", external)
        invalid = up.wait_event("configuration invalid; services go on unchanged")
        assert invalid["error"] == (
            f"compose.yaml: volumes.shared: external volume '{name}_shared' not found; devd "
            f"does not create external volumes: create it first (docker volume create "
            f"{name}_shared)"
        )
        time.sleep(0.5)
        assert docker_client.volumes.list(filters={"name": f"{name}_shared"}) == []
        assert len(up.named("running", service="app")) == 1
    finally:
        assert up.stop() == 0


def test_saving_an_override_file_reloads_as_the_compose_file_does(
    tmp_path: Path, name: str, docker_client: Any
) -> None:
    """An override file created while devd up runs is merged in (its new service started,
    the other left alone), a save to it recreates only the service whose settings it
    changes (issue 13: the override file was not read at all)."""
    write(tmp_path, "Dockerfile", DOCKERFILE)
    write(tmp_path, "config/app.env", "FROM_FILE=1\n")
    write(tmp_path, ".env", "GREETING=one\n")
    write(tmp_path, "compose.yaml", APP.format(name=name))
    up = UpProcess(tmp_path)
    try:
        up.wait_event("running", service="app", timeout=120)
        time.sleep(0.3)  # as above: a margin for the watcher
        write(tmp_path, "compose.override.yaml", "services:\n" + CACHE)
        reloaded = up.wait_event("configuration reloaded")
        assert (reloaded["changed"], reloaded["added"]) == ([], ["cache"])
        up.wait_event("running", service="cache", timeout=60)
        override = "services:\n  app:\n    environment: {GREETING: over}\n" + CACHE
        write(tmp_path, "compose.override.yaml", override)
        assert up.wait_event("configuration reloaded", count=2)["changed"] == ["app"]
        up.wait_event("running", count=2, service="app", timeout=120)
        assert environment(docker_client, name, "app")["GREETING"] == "over"
        assert len(up.named("running", service="cache")) == 1
    finally:
        assert up.stop() == 0
