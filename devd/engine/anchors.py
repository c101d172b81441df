"""Anchors: a service's network kept between its containers (:class:`Anchors`, which
:class:`devd.engine.containers.Containers` is handed).

Replacing a container on its own network costs the engine most of the replace: tearing down
the old container's network endpoint, port proxies and firewall rules, and building new ones
for the new container (on engine 20.10, a 300 ms start and a 150 ms stop, where a container
joining an existing network starts in 80 ms and stops in 50 ms). The new container also gets
a new address, and a client that asked the old one during the swap can stall for a second on
an unresolved ARP entry. So a service devd rebuilds gets an *anchor*: a tiny container
(:mod:`devd.engine.anchor_image`) that owns the network endpoint, the published ports and the
service's name on the project network, and that each container of the service joins
(``network_mode: container:<anchor>``). The anchor lives as long as the network it was made
with: different ports, network or alias after a configuration change make a new one.

An anchor carries labels of its own (``devd.anchor.project``, ``devd.anchor.service``), so
that it is not one of the project's containers to status, logs or replacing; ``devd down``
removes it (:meth:`Anchors.remove`). A container that holds an anchor's name
without those labels is left alone, as any container devd did not create.

When the anchor image cannot run on the engine (another architecture than
:data:`devd.engine.anchor_image.ARCHITECTURES`), services keep their network in their own container,
as image-only services always do.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import docker.errors

from devd.engine.anchor_image import (
    ARCHITECTURES,
    LABEL_ANCHOR_IMAGE,
    anchor_archive,
    anchor_tag,
    import_changes,
)
from devd.engine.container_spec import (
    LABEL_ANCHOR_CONFIG,
    LABEL_ANCHOR_PROJECT,
    LABEL_ANCHOR_SERVICE,
    ContainerSpec,
    anchor_labels,
    anchor_name,
    anchor_options,
    label_selector,
    labelled_as,
    labels_of,
)
from devd.engine.containers import start_new
from devd.engine.transport import Transport, engine_said, explanation, short_id
from devd.errors import ContainerStartFailed, EngineError, ForeignContainer

ANCHOR_KEYS = (LABEL_ANCHOR_PROJECT, LABEL_ANCHOR_SERVICE)  # an anchor's whose-labels
_NOT_RUNNING = re.compile(r"non running container: ([0-9a-f]{12,64})")


@dataclass(frozen=True)
class AnchorStopped:
    """The engine's word that an anchor's process ended (its ``die`` event): whose anchor it
    is and which one."""

    service: str
    anchor_id: str
    name: str


@dataclass(frozen=True)
class AnchorPlan:
    """What replacing a container will do about its anchor, decided before the old container
    is stopped (so that a name devd may not use fails the replace while the old one serves):
    the anchor image's tag (None: the service has no anchor), and the anchor found under its
    name (devd's, checked), if any."""

    image: str | None
    found: dict[str, Any] | None = None


class Anchors:
    """The anchors of devd's projects' services, through ``transport``. It owns two pieces of
    state: the anchor image's tag (imported on first use, under its lock: parallel replaces
    must not import it twice) and the event stream :meth:`stops` reads (for :meth:`close_stops`).
    """

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._image_lock = threading.Lock()
        self._image: str | None = None
        self._image_known = False
        self._events: Any = None

    def plan(self, spec: ContainerSpec) -> AnchorPlan:
        """Look before the old container goes: the anchor image (imported on first use) and
        the container holding the anchor's name. ForeignContainer if devd did not make it."""
        image = self._anchor_image() if spec.anchored else None
        if image is None:
            return AnchorPlan(None)
        name = anchor_name(spec.name)
        attrs = self._transport.name_holder(name)
        mine = attrs is not None and labelled_as(
            labels_of(attrs), spec.project, spec.service, ANCHOR_KEYS
        )
        if attrs is not None and not mine:
            raise ForeignContainer(
                f"container name {name!r} (the anchor of service {spec.service!r}) is taken by "
                f"container {short_id(attrs['Id'])}, which devd did not make for that; devd "
                "leaves it alone: rename or remove it yourself (docker rename / docker rm)"
            )
        return AnchorPlan(image, attrs)

    def up(self, spec: ContainerSpec, plan: AnchorPlan) -> str | None:
        """The id of ``spec``'s running anchor, after the old containers are gone: the one
        found, started if it was stopped (an engine restart, ``devd up`` exiting), or a new
        one when there is none or it was made for other ports, network or alias. A service
        that has no anchor now has any it had removed (``build:`` became ``image:``), so that
        its ports and name are free. Raises ContainerStartFailed (its ports are taken, say)."""
        if plan.image is None:
            if not spec.anchored:
                self.remove(spec.project, spec.service)
            return None
        as_anchor = dataclasses.replace(spec, name=anchor_name(spec.name))
        found = plan.found
        if found is not None:
            wanted = anchor_labels(spec, plan.image)[LABEL_ANCHOR_CONFIG]
            if labels_of(found).get(LABEL_ANCHOR_CONFIG) == wanted:
                if (found.get("State") or {}).get("Running"):
                    return str(found["Id"])
                with contextlib.suppress(ContainerStartFailed):  # it is removed: make anew
                    start_new(self._transport, str(found["Id"]), as_anchor)
                    return str(found["Id"])
            else:
                self._transport.force_remove(str(found["Id"]))  # made for other ports or network
        anchor = self._create_anchor(spec, plan.image)
        start_new(self._transport, anchor, as_anchor)
        return anchor

    def _create_anchor(self, spec: ContainerSpec, image: str) -> str:
        name = anchor_name(spec.name)
        try:
            try:
                created = self._transport.api.create_container(
                    **anchor_options(self._transport.api, spec, image)
                )
            except docker.errors.ImageNotFound:  # removed while devd runs: import it again
                self._image_known = False
                self._anchor_image()
                created = self._transport.api.create_container(
                    **anchor_options(self._transport.api, spec, image)
                )
        except docker.errors.APIError as error:
            raise ContainerStartFailed(
                f"cannot create container {name!r}, the anchor of service {spec.service!r}: "
                f"{explanation(error)}"
            ) from error
        return str(created["Id"])

    def wake(self, error: docker.errors.APIError) -> bool:
        """After "cannot join network of a non running container <id>" (a container of devd's
        whose anchor was stopped): start that container if it is an anchor of devd's."""
        match = _NOT_RUNNING.search(engine_said(error))
        attrs = self._transport.inspect(match[1]) if match else None
        if attrs is None or LABEL_ANCHOR_PROJECT not in labels_of(attrs):
            return False
        self._transport.api.start(attrs["Id"])
        return True

    def _anchor_image(self) -> str | None:
        """The anchor image's tag, imported on first use; None when the engine's architecture
        cannot run it. EngineError if an image devd did not make holds its name."""
        with self._image_lock:
            if not self._image_known:
                if self._transport.api.version().get("Arch") not in ARCHITECTURES:
                    self._image = None
                else:
                    self._image = self._imported_anchor_image()
                self._image_known = True
            return self._image

    def _imported_anchor_image(self) -> str:
        tag = anchor_tag()
        try:
            attrs: dict[str, Any] = self._transport.api.inspect_image(tag)
        except docker.errors.ImageNotFound:
            repository, version = tag.split(":")
            self._transport.api.import_image_from_data(
                anchor_archive(), repository=repository, tag=version, changes=import_changes()
            )
            attrs = self._transport.api.inspect_image(tag)
        if LABEL_ANCHOR_IMAGE not in ((attrs.get("Config") or {}).get("Labels") or {}):
            raise EngineError(
                f"image {tag!r} is not devd's anchor image (it has no {LABEL_ANCHOR_IMAGE} "
                "label); devd leaves it alone: remove or rename it (docker rmi / docker tag)"
            )
        return tag

    def stops(self, project: str) -> Iterator[AnchorStopped]:
        """Each anchor of ``project`` that stops from now on, as the engine's event stream
        says it (filtered by the engine to these anchors' ``die`` events: nothing else is
        sent, and nothing is polled). Ends when the stream does (the engine going away, or
        :meth:`close_stops`); EngineUnavailable if it cannot be opened."""
        filters = {
            "type": "container",
            "event": "die",
            "label": f"{LABEL_ANCHOR_PROJECT}={project}",
        }
        with self._transport.call(f"following the engine's events for project {project!r}"):
            stream = self._transport.api.events(filters=filters, decode=True)
        self._events = stream
        try:
            with self._transport.call(f"following the engine's events for project {project!r}"):
                for event in stream:
                    actor = event.get("Actor") or {}
                    attributes = actor.get("Attributes") or {}
                    if attributes.get(LABEL_ANCHOR_PROJECT) == project:
                        yield AnchorStopped(
                            str(attributes.get(LABEL_ANCHOR_SERVICE, "")),
                            str(actor.get("ID", "")),
                            str(attributes.get("name", "")),
                        )
        finally:
            stream.close()

    def close_stops(self) -> None:
        """End the stream :meth:`stops` reads, from any thread (devd stopping)."""
        stream, self._events = self._events, None
        if stream is not None:
            with contextlib.suppress(Exception):  # closing from another thread, best effort
                stream.close()

    def stopped(self, container_id: str) -> str | None:
        """The name of the anchor whose network the container joins when that anchor does
        not run (stopped or removed by hand: the container then has no network but its
        loopback); None when it runs, the container has a network of its own, or is gone."""
        with self._transport.call(f"inspecting container {short_id(container_id)}"):
            attrs = self._transport.inspect(container_id)
            mode = str(((attrs or {}).get("HostConfig") or {}).get("NetworkMode") or "")
            if not mode.startswith("container:"):
                return None
            anchor = self._transport.inspect(mode.removeprefix("container:"))
        if anchor is not None and (anchor.get("State") or {}).get("Running"):
            return None
        if anchor is not None:
            return str(anchor.get("Name", "")).lstrip("/")
        return anchor_name(str((attrs or {}).get("Name", "")).lstrip("/"))

    def stop_all(self, project: str) -> None:
        """Stop ``project``'s anchors (their containers are stopped): the ports are free again
        until ``devd up`` starts them."""
        with self._transport.call(f"stopping the anchors of project {project!r}"):
            for summary in self._anchor_summaries(project, None):
                with contextlib.suppress(docker.errors.NotFound):
                    self._transport.api.stop(summary["Id"], timeout=0)

    def remove(self, project: str, service: str | None = None) -> list[str]:
        """Remove the anchors of ``project`` (of its ``service`` only, if given), which no
        container should still use; the names removed."""
        removed = []
        with self._transport.call(f"removing the anchors of project {project!r}"):
            for summary in self._anchor_summaries(project, service):
                self._transport.force_remove(str(summary["Id"]))
                removed.append(str((summary.get("Names") or ["?"])[0]).lstrip("/"))
        return removed

    def _anchor_summaries(self, project: str, service: str | None) -> list[dict[str, Any]]:
        selector = label_selector(project, service, ANCHOR_KEYS)
        found = self._transport.api.containers(all=True, filters={"label": selector})
        return [s for s in found if labelled_as(s.get("Labels"), project, service, ANCHOR_KEYS)]
