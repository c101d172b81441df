"""devd.anchors (through Engine): a service's network kept in an anchor container while its
containers are replaced, on the real engine."""

# ruff: noqa: F811  (the fixtures of tests.test_containers, imported, are parameters here)

from __future__ import annotations

from typing import Any

import docker.errors
import pytest

from devd.config import PortMapping
from devd.engine.container_spec import anchor_name
from devd.engine.engine import Engine
from devd.errors import ContainerStartFailed, ForeignContainer
from tests.test_containers import (  # noqa: F401 (fixtures)
    HTTPD,
    INDEX,
    SpecMaker,
    free_port,
    http_get,
    make_spec,
    project,
    web_image,
)

pytestmark = pytest.mark.engine


def _attrs(client: Any, name: str) -> dict[str, Any]:
    attrs: dict[str, Any] = client.api.inspect_container(name)
    return attrs


def test_replacing_keeps_the_anchor_its_address_and_its_published_port(
    engine: Engine, make_spec: SpecMaker, docker_client: Any
) -> None:
    """An anchored service's containers join one anchor: replacing the container keeps the
    anchor, its address and the published port, and the new container serves on it."""
    port = free_port()
    spec = make_spec(command=HTTPD, ports=(PortMapping(port, 8000),), anchored=True)
    first = engine.containers.replace(spec)
    anchor = _attrs(docker_client, anchor_name(spec.name))
    assert (
        _attrs(docker_client, first.id)["HostConfig"]["NetworkMode"] == f"container:{anchor['Id']}"
    )
    assert http_get(port) == INDEX
    second = engine.containers.replace(spec)
    assert second.id != first.id
    again = _attrs(docker_client, anchor_name(spec.name))
    assert again["Id"] == anchor["Id"]
    assert again["NetworkSettings"]["IPAddress"] == anchor["NetworkSettings"]["IPAddress"]
    assert http_get(port) == INDEX
    assert [info.id for info in engine.containers.of_project(spec.project)] == [second.id]


def test_other_ports_make_a_new_anchor(
    engine: Engine, make_spec: SpecMaker, docker_client: Any
) -> None:
    """A configuration with other ports replaces the anchor (the old port is free again)."""
    old_port, new_port = free_port(), free_port()
    engine.containers.replace(
        make_spec(command=HTTPD, ports=(PortMapping(old_port, 8000),), anchored=True)
    )
    before = _attrs(docker_client, anchor_name(make_spec().name))["Id"]
    spec = make_spec(command=HTTPD, ports=(PortMapping(new_port, 8000),), anchored=True)
    engine.containers.replace(spec)
    assert _attrs(docker_client, anchor_name(spec.name))["Id"] != before
    assert http_get(new_port) == INDEX
    with pytest.raises(docker.errors.NotFound):
        docker_client.api.inspect_container(before)


def test_a_stopped_anchor_is_started_again(
    engine: Engine, make_spec: SpecMaker, docker_client: Any
) -> None:
    """After an engine restart the anchor is stopped: the next replace starts it again."""
    port = free_port()
    spec = make_spec(command=HTTPD, ports=(PortMapping(port, 8000),), anchored=True)
    first = engine.containers.replace(spec)
    engine.containers.stop(first.id, 1)
    engine.anchors.stop_all(spec.project)
    assert not _attrs(docker_client, anchor_name(spec.name))["State"]["Running"]
    engine.containers.replace(spec)
    assert _attrs(docker_client, anchor_name(spec.name))["State"]["Running"]
    assert http_get(port) == INDEX


def test_a_container_holding_the_anchors_name_is_left_alone(
    engine: Engine, make_spec: SpecMaker, docker_client: Any, test_labels: dict[str, str]
) -> None:
    """A container devd did not make under the anchor's name: ForeignContainer, untouched."""
    spec = make_spec(anchored=True)
    foreign = docker_client.containers.create(
        spec.image, ["sleep", "1000"], name=anchor_name(spec.name), labels=test_labels
    )
    with pytest.raises(ForeignContainer, match="devd did not make"):
        engine.containers.replace(spec)
    assert docker_client.containers.get(foreign.id).status == "created"


def test_a_taken_port_fails_the_anchors_start_naming_the_port(
    engine: Engine, make_spec: SpecMaker, project: str
) -> None:
    """The anchor publishes the ports: a port in use fails with the port named, and neither
    the anchor nor a container is left."""
    web = engine.containers.replace(
        make_spec(service="web", ports=(PortMapping(port := free_port(), 8000),))
    )
    with pytest.raises(ContainerStartFailed, match=f"host port {port} is already in use"):
        engine.containers.replace(make_spec(ports=(PortMapping(port, 8000),), anchored=True))
    assert [info.id for info in engine.containers.of_project(project)] == [web.id]
    assert engine.anchors.remove(project) == []


def test_remove_anchors_removes_only_the_projects_and_services_anchors(
    engine: Engine, make_spec: SpecMaker, docker_client: Any
) -> None:
    """remove_anchors takes a service's anchor, or every anchor of the project."""
    web = engine.containers.replace(make_spec(service="web", anchored=True))
    app = engine.containers.replace(make_spec(service="app", anchored=True))
    engine.containers.remove(web.id)
    assert engine.anchors.remove(make_spec().project, "web") == [anchor_name(web.name)]
    engine.containers.remove(app.id)
    assert engine.anchors.remove(make_spec().project) == [anchor_name(app.name)]


def test_a_service_that_loses_its_anchor_has_it_removed(
    engine: Engine, make_spec: SpecMaker, docker_client: Any
) -> None:
    """build: became image: (a reload): the next container has its own network, and the old
    anchor goes, so that its port is free for the container."""
    port = free_port()
    engine.containers.replace(
        make_spec(command=HTTPD, ports=(PortMapping(port, 8000),), anchored=True)
    )
    spec = make_spec(command=HTTPD, ports=(PortMapping(port, 8000),))
    info = engine.containers.replace(spec)
    with pytest.raises(docker.errors.NotFound):
        docker_client.api.inspect_container(anchor_name(spec.name))
    assert _attrs(docker_client, info.id)["HostConfig"]["NetworkMode"] == "default"
    assert http_get(port) == INDEX


def test_a_foreign_anchor_name_fails_the_replace_before_the_old_container_stops(
    engine: Engine, make_spec: SpecMaker, docker_client: Any, test_labels: dict[str, str]
) -> None:
    """The anchor's name is checked while the old container still serves: it keeps running."""
    old = engine.containers.replace(make_spec())
    spec = make_spec(anchored=True)
    docker_client.containers.create(
        spec.image, ["sleep", "1000"], name=anchor_name(spec.name), labels=test_labels
    )
    with pytest.raises(ForeignContainer):
        engine.containers.replace(spec)
    assert docker_client.containers.get(old.id).status == "running"


def test_restart_and_start_wake_a_stopped_anchor(
    engine: Engine, make_spec: SpecMaker, docker_client: Any
) -> None:
    """A stopped anchor (docker stop by hand): restarting or starting the container starts
    the anchor again first, instead of failing on "non running container"."""
    port = free_port()
    spec = make_spec(command=HTTPD, ports=(PortMapping(port, 8000),), anchored=True)
    info = engine.containers.replace(spec)
    docker_client.api.stop(anchor_name(spec.name), timeout=0)
    assert engine.containers.restart(info.id, 1).status == "running"
    assert http_get(port) == INDEX
    docker_client.api.stop(info.id, timeout=1)
    docker_client.api.stop(anchor_name(spec.name), timeout=0)
    assert engine.containers.start(info.id).status == "running"
    assert http_get(port) == INDEX


def test_a_stopped_anchor_that_cannot_start_is_made_anew(
    engine: Engine, make_spec: SpecMaker, docker_client: Any, project: str
) -> None:
    """Its network was removed and made again while it was stopped: starting it fails, so a
    new anchor is made, and the service's container is reachable on the network by the
    service's name and by its own name."""
    network = f"{project}_default"
    engine.resources.ensure_network(network, project)
    spec = make_spec(command=HTTPD, network=network, anchored=True)
    engine.containers.replace(spec)
    before = _attrs(docker_client, anchor_name(spec.name))["Id"]
    for container in (spec.name, anchor_name(spec.name)):
        docker_client.api.stop(container, timeout=0)
    docker_client.api.remove_container(spec.name)
    docker_client.api.remove_network(network)
    engine.resources.ensure_network(network, project)
    engine.containers.replace(spec)
    assert _attrs(docker_client, anchor_name(spec.name))["Id"] != before
    client = engine.containers.replace(make_spec(service="client", network=network))
    for host in ("app", spec.name):
        code, lines = engine.execs.run(client.id, ("wget", "-q", "-O", "-", f"http://{host}:8000/"))
        assert (code, lines) == (0, [INDEX.strip()])
