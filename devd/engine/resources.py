"""The project's shared engine resources: its network and its named volumes (compose projects).

:class:`Resources`. The rule is the containers'
rule: devd creates a network or volume with the label ``devd.project=<project>`` and reuses one
only if it carries that label for this project. One of that name without it is someone
else's: :class:`ForeignResource`, and devd neither uses nor removes it. The one exception is a
volume the compose file marks ``external``: devd only checks that it exists and mounts it, and
never removes it. Removal lists by label and checks the label again on each result, so nothing
unlabelled is ever removed.

What the engine (20.10) does that shaped this module:

* Listing networks by ``name`` matches substrings, and inspecting by name also matches id
  prefixes: devd inspects and then compares the name exactly.
* A network with containers attached cannot be removed (403/409); a volume in use neither
  (409): ``down`` removes containers first.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import docker.errors

from devd.engine.container_spec import LABEL_PROJECT
from devd.engine.transport import Transport
from devd.errors import EngineError, ForeignResource

LABEL_RESOURCE = "devd.resource"  # "network" or "volume": what devd made it as


def resource_labels(project: str, kind: str) -> dict[str, str]:
    """The labels that make a network or volume devd's, for ``project``."""
    return {LABEL_PROJECT: project, LABEL_RESOURCE: kind}


class Resources:
    """Networks and volumes of a project, through ``transport``."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def ensure_network(self, name: str, project: str) -> str:
        """The id of network ``name``, created (bridge, labelled) unless this project's exists;
        ForeignResource if one of that name is not the project's."""
        with self._transport.call(f"preparing network {name!r}"):
            attrs = self._inspect_network(name)
            if attrs is not None:
                _check_owner("network", name, attrs.get("Labels"), project)
                return str(attrs["Id"])
            created = self._transport.api.create_network(
                name,
                driver="bridge",
                labels=resource_labels(project, "network"),
                check_duplicate=True,
            )
        return str(created["Id"])

    def ensure_volume(self, name: str, project: str) -> None:
        """Create volume ``name`` (labelled) unless this project's exists; ForeignResource if
        one of that name is not the project's."""
        with self._transport.call(f"preparing volume {name!r}"):
            attrs = self._inspect_volume(name)
            if attrs is not None:
                _check_owner("volume", name, attrs.get("Labels"), project)
                return
            self._transport.api.create_volume(name, labels=resource_labels(project, "volume"))

    def volume_exists(self, name: str) -> bool:
        """Whether volume ``name`` exists, whoever made it (an external volume's check)."""
        with self._transport.call(f"looking for volume {name!r}"):
            return self._inspect_volume(name) is not None

    def _inspect_network(self, name: str) -> dict[str, Any] | None:
        try:
            attrs: dict[str, Any] = self._transport.api.inspect_network(name)
        except docker.errors.NotFound:
            return None
        return attrs if attrs.get("Name") == name else None

    def _inspect_volume(self, name: str) -> dict[str, Any] | None:
        try:
            attrs: dict[str, Any] = self._transport.api.inspect_volume(name)
        except docker.errors.NotFound:
            return None
        return attrs

    def networks(self, project: str) -> list[str]:
        """Names of the networks labelled as ``project``'s."""
        with self._transport.call(f"listing the networks of project {project!r}"):
            found = self._transport.api.networks(filters={"label": f"{LABEL_PROJECT}={project}"})
        return sorted(n["Name"] for n in found if _owned(n.get("Labels"), project))

    def volumes(self, project: str) -> list[str]:
        """Names of the volumes labelled as ``project``'s."""
        with self._transport.call(f"listing the volumes of project {project!r}"):
            found = self._transport.api.volumes(filters={"label": f"{LABEL_PROJECT}={project}"})
        volumes = (found or {}).get("Volumes") or []
        return sorted(v["Name"] for v in volumes if _owned(v.get("Labels"), project))

    def remove_networks(self, project: str) -> list[str]:
        """Remove the project's networks (containers must be gone); the names removed."""
        removed = []
        for name in self.networks(project):
            with self._transport.call(f"removing network {name!r}"):
                attrs = self._inspect_network(name)
                if attrs is None or not _owned(attrs.get("Labels"), project):
                    continue
                try:
                    self._transport.api.remove_network(attrs["Id"])
                except docker.errors.NotFound:
                    continue
            removed.append(name)
        return removed

    def remove_volumes(self, project: str, keep: Collection[str] = ()) -> list[str]:
        """Remove the project's named volumes but those in ``keep`` (the external ones, which
        may carry the label from before they were made external); the names removed.
        EngineError names a volume a container still uses, once the others are gone."""
        removed, kept = [], []
        for name in self.volumes(project):
            if name in keep:
                continue
            try:
                with self._transport.call(f"removing volume {name!r}"):
                    try:
                        self._transport.api.remove_volume(name)
                    except docker.errors.NotFound:
                        continue
            except EngineError as error:
                kept.append(str(error))
                continue
            removed.append(name)
        if kept:
            raise EngineError(f"removed {len(removed)} volume(s) but kept {len(kept)}: {kept[0]}")
        return removed


def _owned(labels: Mapping[str, str] | None, project: str) -> bool:
    return (labels or {}).get(LABEL_PROJECT) == project


def _check_owner(kind: str, name: str, labels: Mapping[str, str] | None, project: str) -> None:
    if _owned(labels, project):
        return
    owner = (labels or {}).get(LABEL_PROJECT)
    whose = (
        f"it belongs to devd project {owner!r}"
        if owner
        else f"devd did not create it (it has no {LABEL_PROJECT} label)"
    )
    raise ForeignResource(
        f"{kind} {name!r} already exists and {whose}; devd leaves it alone: remove or rename "
        f"it yourself (docker {kind} rm), or give this project another name"
    )
