"""Anchors: a service's network kept between its containers. :class:`AnchorOps` is mixed into
:class:`devd.engine.Engine`.

Replacing a container on its own network costs the engine most of the replace: tearing down
the old container's network endpoint, port proxies and firewall rules, and building new ones
for the new container (on engine 20.10, a 300 ms start and a 150 ms stop, where a container
joining an existing network starts in 80 ms and stops in 50 ms). The new container also gets
a new address, and a client that asked the old one during the swap can stall for a second on
an unresolved ARP entry. So a service devd rebuilds gets an *anchor*: a tiny container
(:mod:`devd.anchor_image`) that owns the network endpoint, the published ports and the
service's name on the project network, and that each container of the service joins
(``network_mode: container:<anchor>``). The anchor lives as long as the network it was made
with: different ports, network or alias after a configuration change make a new one.

An anchor carries labels of its own (``devd.anchor.project``, ``devd.anchor.service``), so
that it is not one of the project's containers to status, logs or replacing; ``devd down``
removes it (:meth:`AnchorOps.remove_anchors`). A container that holds an anchor's name
without those labels is left alone, as any container devd did not create.

When the anchor image cannot run on the engine (another architecture than
:data:`devd.anchor_image.ARCHITECTURES`), services keep their network in their own container,
as image-only services always do.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import docker.errors

from devd.anchor_image import (
    ARCHITECTURES,
    LABEL_ANCHOR_IMAGE,
    anchor_archive,
    anchor_tag,
    import_changes,
)
from devd.container_spec import (
    LABEL_ANCHOR_CONFIG,
    LABEL_ANCHOR_PROJECT,
    LABEL_ANCHOR_SERVICE,
    ContainerSpec,
    anchor_labels,
    anchor_name,
    anchor_options,
    labels_of,
)
from devd.containers import ContainerOps, short_id
from devd.errors import EngineError, ForeignContainer

_image_lock = threading.Lock()  # parallel replaces must not import the image twice
_UNSET = object()


class AnchorOps(ContainerOps):
    """The anchors of a project's services; needs ``client``, as ContainerOps does."""

    def _anchor_for(self, spec: ContainerSpec) -> str | None:
        """The id of ``spec``'s running anchor, made or started as needed; None when ``spec``
        is not anchored or the engine cannot run anchors. Raises ContainerStartFailed (the
        ports are taken, say) or ForeignContainer (its name is taken)."""
        if not spec.anchored:
            return None
        image = self._anchor_image()
        if image is None:
            return None
        name = anchor_name(spec.name)
        wanted = anchor_labels(spec, image)[LABEL_ANCHOR_CONFIG]
        attrs = self._name_holder(name)
        if attrs is not None:
            labels = labels_of(attrs)
            if not _anchors(labels, spec.project, spec.service):
                raise ForeignContainer(
                    f"container name {name!r} (the anchor of service {spec.service!r}) is "
                    f"taken by container {short_id(attrs['Id'])}, which devd did not make for "
                    "that; devd leaves it alone: rename or remove it yourself"
                )
            if labels.get(LABEL_ANCHOR_CONFIG) == wanted:
                if (attrs.get("State") or {}).get("Running"):
                    return str(attrs["Id"])
                self._start(str(attrs["Id"]), spec)  # stopped (an engine restart): start it
                return str(attrs["Id"])
            self._force_remove(str(attrs["Id"]))  # made for other ports or another network
        created = self.client.api.create_container(**anchor_options(self.client.api, spec, image))
        anchor = str(created["Id"])
        self._start(anchor, spec)
        return anchor

    def _anchor_image(self) -> str | None:
        """The anchor image's id, imported on first use; None when the engine's architecture
        cannot run it. EngineError if an image devd did not make holds its name."""
        cached = self.__dict__.get("_devd_anchor_image", _UNSET)
        if cached is not _UNSET:
            return cached  # type: ignore[no-any-return]
        with _image_lock:
            if self.client.api.version().get("Arch") not in ARCHITECTURES:
                image = None
            else:
                image = self._imported_anchor_image()
            self.__dict__["_devd_anchor_image"] = image
        return image

    def _imported_anchor_image(self) -> str:
        tag = anchor_tag()
        try:
            attrs: dict[str, Any] = self.client.api.inspect_image(tag)
        except docker.errors.ImageNotFound:
            self.client.api.import_image_from_data(
                anchor_archive(),
                repository=tag.split(":")[0],
                tag=tag.split(":")[1],
                changes=import_changes(),
            )
            attrs = self.client.api.inspect_image(tag)
        if LABEL_ANCHOR_IMAGE not in ((attrs.get("Config") or {}).get("Labels") or {}):
            raise EngineError(
                f"image {tag!r} is not devd's anchor image (it has no {LABEL_ANCHOR_IMAGE} "
                "label); devd leaves it alone: remove or rename it (docker rmi / docker tag)"
            )
        return str(attrs["Id"])

    def stop_anchors(self, project: str) -> None:
        """Stop ``project``'s anchors (their containers are stopped): the ports are free again
        until ``devd up`` starts them."""
        with self._engine_call(f"stopping the anchors of project {project!r}"):
            for summary in self._anchor_summaries(project, None):
                with contextlib.suppress(docker.errors.NotFound):
                    self.client.api.stop(summary["Id"], timeout=0)

    def remove_anchors(self, project: str, service: str | None = None) -> list[str]:
        """Remove the anchors of ``project`` (of its ``service`` only, if given), which no
        container should still use; the names removed."""
        removed = []
        with self._engine_call(f"removing the anchors of project {project!r}"):
            for summary in self._anchor_summaries(project, service):
                self._force_remove(str(summary["Id"]))
                removed.append(str((summary.get("Names") or ["?"])[0]).lstrip("/"))
        return removed

    def _anchor_summaries(self, project: str, service: str | None) -> list[dict[str, Any]]:
        selector = [f"{LABEL_ANCHOR_PROJECT}={project}"]
        if service is not None:
            selector.append(f"{LABEL_ANCHOR_SERVICE}={service}")
        found = self.client.api.containers(all=True, filters={"label": selector})
        return [s for s in found if _anchors(s.get("Labels") or {}, project, service)]


def _anchors(labels: dict[str, str], project: str, service: str | None) -> bool:
    """Whether ``labels`` are those of an anchor of ``project`` (and ``service``)."""
    return labels.get(LABEL_ANCHOR_PROJECT) == project and (
        service is None or labels.get(LABEL_ANCHOR_SERVICE) == service
    )
