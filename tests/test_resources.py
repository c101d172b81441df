"""The project's networks and volumes (devd.resources) and compose-shaped containers
(devd.containers) against the real engine: labelled, reused only when devd's, never touched
otherwise; aliases, mounts, healthchecks, engine-chosen ports."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from devd.config import ExecHook, Healthcheck, Mount, PortMapping
from devd.engine.container_spec import ContainerSpec
from devd.engine.engine import Engine
from devd.errors import ForeignResource
from tests.conftest import remove_anchors
from tests.updriver import fetch, wait_for

pytestmark = pytest.mark.engine


def remove_stack(client: Any, selector: str) -> None:
    """Remove the containers, networks and volumes carrying label ``selector``."""
    filters = {"label": selector}
    for container in client.containers.list(all=True, filters=filters):
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)
    key, _, project = selector.partition("=")
    if key == "devd.project":
        remove_anchors(client, project)
    for network in client.networks.list(filters=filters):
        with contextlib.suppress(docker.errors.NotFound):
            network.remove()
    for volume in client.volumes.list(filters=filters):
        with contextlib.suppress(docker.errors.NotFound):
            volume.remove(force=True)


@pytest.fixture
def project(test_id: str, docker_client: Any, busybox_image: str) -> Iterator[str]:
    """The test's project name; afterwards what carries its devd label or the test label goes."""
    name = f"t{test_id}"
    yield name
    remove_stack(docker_client, f"devd.project={name}")
    remove_stack(docker_client, f"devd.test={test_id}")


def test_network_is_created_labelled_and_reused(
    engine: Engine, project: str, docker_client: Any
) -> None:
    """ensure_network creates a bridge network with devd's labels, and returns the same one
    when called again."""
    first = engine.resources.ensure_network(f"{project}_default", project)
    again = engine.resources.ensure_network(f"{project}_default", project)
    assert first == again
    labels = docker_client.networks.get(first).attrs["Labels"]
    assert labels["devd.project"] == project
    assert engine.resources.networks(project) == [f"{project}_default"]


def test_foreign_network_and_volume_are_refused_and_left_alone(
    engine: Engine, project: str, docker_client: Any, test_labels: dict[str, str]
) -> None:
    """A network or volume of devd's name without devd's labels: ForeignResource in one line,
    and down/clean's removal leaves it (and the project's own ones go)."""
    docker_client.networks.create(f"{project}_default", labels=test_labels)
    docker_client.volumes.create(f"{project}_data", labels=test_labels)
    with pytest.raises(
        ForeignResource,
        match=rf"network '{project}_default' already exists and devd did not create it",
    ):
        engine.resources.ensure_network(f"{project}_default", project)
    with pytest.raises(ForeignResource, match=rf"volume '{project}_data' already exists"):
        engine.resources.ensure_volume(f"{project}_data", project)
    engine.resources.ensure_network(f"{project}_own", project)
    engine.resources.ensure_volume(f"{project}_own", project)
    assert engine.resources.remove_networks(project) == [f"{project}_own"]
    assert engine.resources.remove_volumes(project) == [f"{project}_own"]
    assert docker_client.networks.get(f"{project}_default").name == f"{project}_default"
    assert docker_client.volumes.get(f"{project}_data").name == f"{project}_data"
    assert engine.resources.networks(project) == []
    assert engine.resources.volumes(project) == []


def _spec(project: str, service: str, labels: dict[str, str], **fields: Any) -> ContainerSpec:
    return ContainerSpec(
        name=f"{project}-{service}",
        image="devd-busybox:latest",
        project=project,
        service=service,
        stop_timeout=1,
        extra_labels=labels,
        network=f"{project}_default",
        **fields,
    )


def test_compose_container_settings_reach_the_engine(
    engine: Engine, project: str, docker_client: Any, test_labels: dict[str, str], tmp_path: Path
) -> None:
    """One container with every compose setting: a service on the project network reaches
    another by its service name; named volume, tmpfs and read-only bind mounts; entrypoint,
    working_dir, user; a healthcheck the engine runs (nanosecond units); host port 0 picked
    by the engine; devd's labels win over the service's."""
    engine.resources.ensure_network(f"{project}_default", project)
    engine.resources.ensure_volume(f"{project}_data", project)
    (tmp_path / "index.html").write_text("from the bind mount\n")
    server = engine.containers.replace(
        _spec(
            project,
            "web",
            {**test_labels, "devd.project": "evil", "team": "a"},
            command=(
                "-c",
                "mkdir -p www && cp /src/index.html www/ && exec httpd -f -p 8000 -h www",
            ),
            entrypoint=("sh",),
            working_dir="/work",
            user="0",
            init=False,
            ports=(PortMapping(0, 8000),),
            mounts=(
                Mount("volume", f"{project}_data", "/data"),
                Mount("tmpfs", "", "/work"),
                Mount("bind", str(tmp_path), "/src", read_only=True),
            ),
            healthcheck=Healthcheck(
                ("CMD", "wget", "-q", "-O", "/dev/null", "http://localhost:8000/index.html"),
                interval_s=0.5,
                timeout_s=2,
                retries=3,
            ),
        )
    )
    attrs = docker_client.api.inspect_container(server.id)
    assert attrs["Config"]["Labels"]["devd.project"] == project
    assert attrs["Config"]["Labels"]["team"] == "a"
    assert attrs["Config"]["Healthcheck"]["Interval"] == 500_000_000
    assert attrs["HostConfig"]["Init"] is False
    assert attrs["Config"]["WorkingDir"] == "/work"
    assert attrs["NetworkSettings"]["Networks"][f"{project}_default"]["Aliases"][0] == "web"
    health = wait_for(
        lambda: (info := engine.containers.get(server.id)) and info.health == "healthy" and info,
        30,
        "the healthcheck to pass",
    )
    assert health.health == "healthy"
    host_port = int(attrs["NetworkSettings"]["Ports"]["8000/tcp"][0]["HostPort"])
    assert host_port > 0
    assert fetch(host_port, "/index.html") == "from the bind mount\n"
    client = engine.containers.replace(
        _spec(project, "client", test_labels, command=("sh", "-c", "sleep 1000"))
    )
    code, lines = engine.execs.run(
        client.id, ("wget", "-q", "-O", "-", "http://web:8000/index.html")
    )
    assert (code, lines) == (0, ["from the bind mount"])
    code, _ = engine.execs.run(server.id, ("sh", "-c", "touch /src/x"))
    assert code != 0  # read-only bind
    code, _ = engine.execs.run(server.id, ("sh", "-c", "echo kept > /data/f"))
    assert code == 0
    assert docker_client.volumes.get(f"{project}_data").attrs["Labels"]["devd.project"] == project


def test_exec_in_reports_a_failing_commands_exit_code(
    engine: Engine, project: str, test_labels: dict[str, str]
) -> None:
    """exec_in gives a command's exit code and its output lines (stdout and stderr)."""
    engine.resources.ensure_network(f"{project}_default", project)
    box = engine.containers.replace(_spec(project, "box", test_labels, command=("sleep", "1000")))
    code, lines = engine.execs.run(box.id, ("sh", "-c", "echo out; echo err >&2; exit 4"))
    assert code == 4
    assert sorted(lines) == ["err", "out"]  # stdout and stderr, in no promised order
    started = time.monotonic()
    assert engine.execs.run(box.id, ("true",)) == (0, [])
    assert time.monotonic() - started < 10


def test_exec_in_runs_a_hook_with_its_user_dir_environment_and_privilege(
    engine: Engine, project: str, test_labels: dict[str, str]
) -> None:
    """An ExecHook runs as its user, in its working dir, with its environment; privileged
    reaches the engine: more capabilities, or (an engine that cannot grant them, as a nested
    one) a refusal with an exit code, as for any failing exec."""
    engine.resources.ensure_network(f"{project}_default", project)
    box = engine.containers.replace(_spec(project, "box", test_labels, command=("sleep", "1000")))
    hook = ExecHook(
        ("sh", "-c", 'echo "$(id -u) $(pwd) $V"'),
        user="1234",
        working_dir="/tmp",
        environment={"V": "a b"},
    )
    assert engine.execs.run(box.id, hook) == (0, ["1234 /tmp a b"])
    caps = ("grep", "CapEff", "/proc/self/status")
    plain = engine.execs.run(box.id, ExecHook(caps))
    assert plain[0] == 0
    assert engine.execs.run(box.id, ExecHook(caps, privileged=True)) != plain
