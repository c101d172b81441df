"""devd.container_spec: the create requests for a service's container and for its anchor
(pure: docker-py's low-level client only formats them; nothing reaches an engine)."""

from __future__ import annotations

from typing import Any

import docker
import pytest

from devd.config import ContainerOptions, PortMapping, Ulimit
from devd.engine.container_spec import (
    LABEL_ANCHOR_CONFIG,
    ContainerSpec,
    anchor_labels,
    anchor_name,
    anchor_options,
    create_options,
    image_labels,
    image_owner,
)


@pytest.fixture(scope="module")
def api() -> Any:
    return docker.APIClient(base_url="unix:///nonexistent.sock", version="1.41")


def _spec(**changes: Any) -> ContainerSpec:
    fields: dict[str, Any] = {
        "name": "p-web",
        "image": "sha256:abc",
        "project": "p",
        "service": "web",
        "ports": (PortMapping(8080, 8000),),
        "network": "p_default",
        "anchored": True,
    }
    fields.update(changes)
    return ContainerSpec(**fields)


def test_a_container_of_its_own_publishes_its_ports_and_joins_the_network(api: Any) -> None:
    """Without an anchor the container holds the ports and the alias itself."""
    options = create_options(api, _spec())
    assert options["ports"] == [("8000", "tcp")]
    assert options["host_config"]["PortBindings"] == {
        "8000/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]
    }
    assert options["host_config"]["NetworkMode"] == "p_default"
    endpoints = options["networking_config"]["EndpointsConfig"]
    assert endpoints["p_default"]["Aliases"] == ["web"]


def test_the_stop_signal_is_the_services_or_the_images(api: Any) -> None:
    """``stop_signal`` goes into the create request (the engine sends it on every stop and
    restart); without one the request leaves the image's STOPSIGNAL in place."""
    assert create_options(api, _spec(stop_signal="SIGINT"))["stop_signal"] == "SIGINT"
    assert create_options(api, _spec())["stop_signal"] is None


def test_an_anchored_container_joins_the_anchor_and_names_no_port_or_network(api: Any) -> None:
    """With an anchor: network_mode container:<anchor>; ports and alias are the anchor's."""
    options = create_options(api, _spec(), anchor="a1b2")
    assert options["host_config"]["NetworkMode"] == "container:a1b2"
    assert options["ports"] == []
    assert not options["host_config"].get("PortBindings")
    assert options["networking_config"] is None
    assert options["labels"] == {"devd.project": "p", "devd.service": "web"}


def test_the_anchor_holds_ports_network_and_alias_and_is_killed_to_stop(api: Any) -> None:
    """The anchor: its own name and labels (not devd.project), the service's ports, network
    and alias, stop signal SIGKILL, and nothing of the service's command or mounts."""
    options = anchor_options(api, _spec(command=("sh",)), "sha256:anchor")
    assert options["name"] == anchor_name("p-web") == "p-web.anchor"
    assert "devd.project" not in options["labels"]
    assert options["labels"]["devd.anchor.project"] == "p"
    assert options["labels"]["devd.anchor.service"] == "web"
    assert options["host_config"]["PortBindings"] == {
        "8000/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]
    }
    aliases = options["networking_config"]["EndpointsConfig"]["p_default"]["Aliases"]
    assert aliases == ["web", "p-web"]  # the container's name answers too, as on its own
    assert options["stop_signal"] == "SIGKILL"
    assert "command" not in options
    assert "mounts" not in options["host_config"]


@pytest.mark.parametrize(
    "change",
    [
        {"ports": (PortMapping(8081, 8000),)},
        {"ports": ()},
        {"network": None},
        {"network": "other"},
        {"service": "api"},
        {"options": ContainerOptions(extra_hosts=("db.local:10.0.0.2",))},
    ],
)
def test_the_anchor_digest_changes_with_its_network(change: dict[str, Any]) -> None:
    """Other ports, network or alias: another digest, so a new anchor is made."""
    before = anchor_labels(_spec(), "img")[LABEL_ANCHOR_CONFIG]
    assert anchor_labels(_spec(**change), "img")[LABEL_ANCHOR_CONFIG] != before


def test_the_anchor_digest_ignores_what_the_container_alone_uses() -> None:
    """Command, environment, image of the service, mounts: the anchor stays."""
    before = anchor_labels(_spec(), "img")[LABEL_ANCHOR_CONFIG]
    other = _spec(command=("x",), environment={"A": "1"}, image="sha256:new", stop_timeout=3)
    assert anchor_labels(other, "img")[LABEL_ANCHOR_CONFIG] == before
    assert anchor_labels(_spec(), "other-anchor-image")[LABEL_ANCHOR_CONFIG] != before


def test_an_image_carries_one_label_naming_project_and_service() -> None:
    """One label (one build step fewer), read back as (project, service)."""
    labels = image_labels("p", "web")
    assert labels == {"devd.image": "p/web"}
    assert image_owner(labels) == ("p", "web")


@pytest.mark.parametrize(
    ("labels", "owner"),
    [
        ({"devd.project": "p", "devd.service": "web"}, ("p", "web")),  # an older devd's
        ({"devd.image": "p"}, None),
        ({"devd.image": "/web"}, None),
        ({"other": "x"}, None),
        (None, None),
    ],
)
def test_image_owner_reads_older_labels_and_refuses_others(
    labels: dict[str, str] | None, owner: tuple[str, str] | None
) -> None:
    """An older devd's two labels still name the owner; anything else is nobody's."""
    assert image_owner(labels) == owner


OPTIONS = ContainerOptions(
    extra_hosts=("db.local:10.0.0.2",),
    cap_add=("NET_ADMIN",),
    cap_drop=("MKNOD",),
    read_only=True,
    shm_size=256 * 1024 * 1024,
    ulimits=(Ulimit("nofile", 1024, 2048),),
)


def test_container_options_go_to_the_container_and_extra_hosts_to_the_anchor(api: Any) -> None:
    """cap_add/cap_drop, read_only, shm_size and ulimits are the container's; extra_hosts
    too when it has its own network, else they are the anchor's (the engine refuses extra
    hosts with a container's network; the joiner shares the anchor's /etc/hosts)."""
    own = create_options(api, _spec(options=OPTIONS))["host_config"]
    assert (own["CapAdd"], own["CapDrop"], own["ReadonlyRootfs"], own["ShmSize"]) == (
        ["NET_ADMIN"], ["MKNOD"], True, 268435456,
    )  # fmt: skip
    assert own["Ulimits"] == [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]
    assert own["ExtraHosts"] == ["db.local:10.0.0.2"]
    joined = create_options(api, _spec(options=OPTIONS), anchor="a1b2")["host_config"]
    assert "ExtraHosts" not in joined
    assert joined["CapAdd"] == ["NET_ADMIN"]
    anchor = anchor_options(api, _spec(options=OPTIONS), "sha256:anchor")["host_config"]
    assert anchor["ExtraHosts"] == ["db.local:10.0.0.2"]
    assert "CapAdd" not in anchor
    plain = create_options(api, _spec())["host_config"]
    assert not {"CapAdd", "CapDrop", "ReadonlyRootfs", "ShmSize", "Ulimits", "ExtraHosts"} & set(
        plain
    )
