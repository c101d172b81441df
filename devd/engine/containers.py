"""Running services' containers: create, replace, start, stop, restart, wait, inspect. What a
container should be and is, and its labels, are :mod:`devd.engine.container_spec`; the
ownership checks every operation makes are :class:`devd.engine.transport.Transport`'s.

Listing filters on devd's labels, and every operation that changes a container first checks
that it carries ``devd.project`` (replacing checks project and service too). A service's
container may join its *anchor* (:mod:`devd.engine.anchors`), which :class:`Containers` is
handed in its constructor, or not (None: containers have networks of their own).

What the engine (20.10) does that shaped this module:

* A failed start leaves the container "created"; a port conflict says either
  ``Bind for 0.0.0.0:P failed: port is already allocated`` (another container holds it) or
  ``listen tcp4 0.0.0.0:P: bind: address already in use`` (a host program does).
* The stop API takes whole seconds; "t=0.5" is a server error.
* A wait that times out surfaces as requests' ConnectionError around urllib3's
  ReadTimeoutError (not requests' ReadTimeout).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import docker.errors

from devd.engine.container_spec import (
    LABEL_PROJECT,
    LABEL_SERVICE,
    ContainerInfo,
    ContainerSpec,
    create_options,
    label_selector,
    labelled_as,
    labels_of,
    whole_seconds,
)
from devd.engine.transport import (
    CONNECTION_ERRORS,
    Transport,
    describe,
    engine_said,
    explanation,
    short_id,
    timed_out,
)
from devd.errors import ContainerGone, ContainerStartFailed, ForeignContainer, one_line

if TYPE_CHECKING:
    from devd.engine.anchors import AnchorPlan

_PORT_TAKEN = ("port is already allocated", "address already in use")
_PORT_IN_MESSAGE = re.compile(r"(?:Bind for |listen \S+ )\S*:(\d+)")


class Anchoring(Protocol):
    """What replacing and starting a container ask of the services' anchors."""

    def plan(self, spec: ContainerSpec) -> AnchorPlan:
        """What replacing will do about ``spec``'s anchor, decided before anything stops."""
        ...

    def up(self, spec: ContainerSpec, plan: AnchorPlan) -> str | None:
        """The id of the anchor whose network ``spec``'s container joins; None: its own."""
        ...

    def wake(self, error: docker.errors.APIError) -> bool:
        """Whether ``error`` was a stopped anchor, started again now."""
        ...


class Containers:
    """The containers of devd's projects, through ``transport``; an anchored service's
    containers join their anchor through ``anchors`` (None: no anchors)."""

    def __init__(self, transport: Transport, anchors: Anchoring | None = None) -> None:
        self._transport = transport
        self._anchors = anchors

    # --- looking ----------------------------------------------------------------------------

    def of_project(self, project: str, service: str | None = None) -> list[ContainerInfo]:
        """Every container (running or not) labelled as ``project``'s (and ``service``'s),
        sorted by name."""
        with self._transport.call(f"listing the containers of project {project!r}"):
            summaries = self._transport.api.containers(
                all=True, filters={"label": label_selector(project, service)}
            )
            found = (self._transport.inspect(summary["Id"]) for summary in summaries)
            infos = [
                ContainerInfo.from_inspect(attrs)
                for attrs in found
                if attrs is not None and _belongs(attrs, project, service)
            ]
        return sorted(infos, key=lambda info: info.name)

    def get(self, container_id: str) -> ContainerInfo | None:
        """A fresh look at the container; None when it no longer exists."""
        with self._transport.call(f"inspecting container {short_id(container_id)}"):
            attrs = self._transport.inspect(container_id)
        return None if attrs is None else ContainerInfo.from_inspect(attrs)

    # --- running ----------------------------------------------------------------------------

    def replace(self, spec: ContainerSpec) -> ContainerInfo:
        """Start a new container for ``spec``'s service after stopping (within
        ``spec.stop_timeout``) and removing the old one: the container named ``spec.name``
        and any other labelled with the project and service. A container holding the name
        without those labels raises ForeignContainer and is left alone. An anchored spec's
        container joins the service's anchor (made or started as needed, its name checked
        before anything is stopped). A failed start removes the new container (not
        the anchor, which holds no state) and raises ContainerStartFailed."""
        with self._transport.call(f"replacing container {spec.name!r}"):
            holder = self._transport.name_holder(spec.name)
            if holder is not None and not _belongs(holder, spec.project, spec.service):
                raise ForeignContainer(_foreign_message(holder, spec))
            plan = None if self._anchors is None else self._anchors.plan(spec)  # checks it too
            summaries = self._transport.api.containers(
                all=True, filters={"label": label_selector(spec.project, spec.service)}
            )
            old = [summary["Id"] for summary in summaries]
            if holder is not None and holder["Id"] not in old:
                old.append(holder["Id"])
            for container_id in old:
                self._stop_and_remove(container_id, spec.stop_timeout)
            joins = None if self._anchors is None or plan is None else self._anchors.up(spec, plan)
            container_id = self._create(spec, joins)
            start_new(self._transport, container_id, spec)
            attrs = self._transport.inspect(container_id)
        if attrs is None:
            raise ContainerGone(f"container {spec.name!r} vanished right after it started")
        return ContainerInfo.from_inspect(attrs)

    def _stop_and_remove(self, container_id: str, timeout: float) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self._transport.api.stop(container_id, timeout=whole_seconds(timeout))
        self._transport.force_remove(container_id)

    def _create(self, spec: ContainerSpec, anchor: str | None = None) -> str:
        try:
            options = create_options(self._transport.api, spec, anchor)
            created = self._transport.api.create_container(**options)
        except docker.errors.ImageNotFound as error:
            raise ContainerStartFailed(
                f"cannot create container {spec.name!r}: no image {spec.image!r}"
            ) from error
        except docker.errors.APIError as error:
            raise ContainerStartFailed(
                f"cannot create container {spec.name!r}: {explanation(error)}"
            ) from error
        container_id = str(created["Id"])
        self._transport.made(container_id)  # made with spec.labels, devd.project included
        return container_id

    def start(self, container_id: str) -> ContainerInfo:
        """Start a stopped container of devd's again (nothing if it runs); ContainerGone if
        it is gone."""
        gone = ContainerGone(f"cannot start container {short_id(container_id)}: it is gone")
        with self._transport.call(f"starting container {short_id(container_id)}"):
            if not self._transport.owned(container_id, "start"):
                raise gone
            try:
                self._with_anchor(lambda: self._transport.api.start(container_id))
            except docker.errors.NotFound as error:
                raise gone from error
            attrs = self._transport.inspect(container_id)
        if attrs is None:
            raise gone
        return ContainerInfo.from_inspect(attrs)

    def _with_anchor(self, request: Callable[[], object]) -> None:
        """Make ``request``; once more if it failed because the container's anchor was
        stopped (``docker stop`` by hand, say) and that anchor could be started."""
        try:
            request()
        except docker.errors.NotFound:
            raise
        except docker.errors.APIError as error:
            if self._anchors is None or not self._anchors.wake(error):
                raise
            request()

    def stop(self, container_id: str, timeout: float) -> None:
        """Stop it (SIGTERM, SIGKILL after ``timeout`` s); nothing if stopped or gone."""
        with self._transport.call(f"stopping container {short_id(container_id)}"):
            if not self._transport.owned(container_id, "stop"):
                return
            with contextlib.suppress(docker.errors.NotFound):
                self._transport.api.stop(container_id, timeout=whole_seconds(timeout))

    def remove(self, container_id: str) -> None:
        """Remove it, running or not, with its anonymous volumes; nothing if gone."""
        with self._transport.call(f"removing container {short_id(container_id)}"):
            if self._transport.owned(container_id, "remove"):
                self._transport.force_remove(container_id)

    def restart(self, container_id: str, timeout: float) -> ContainerInfo:
        """Stop it (within ``timeout`` s) and start it again; ContainerGone if it is gone."""
        with self._transport.call(f"restarting container {short_id(container_id)}"):
            if self._transport.owned(container_id, "restart"):
                with contextlib.suppress(docker.errors.NotFound):
                    seconds = whole_seconds(timeout)
                    self._with_anchor(
                        lambda: self._transport.api.restart(container_id, timeout=seconds)
                    )
            attrs = self._transport.inspect(container_id)
        if attrs is None:
            raise ContainerGone(f"cannot restart container {short_id(container_id)}: it is gone")
        return ContainerInfo.from_inspect(attrs)

    def wait(self, container_id: str, timeout: float | None = None) -> int | None:
        """Wait for it to stop and give its exit code; None when ``timeout`` s pass first.
        ContainerGone if it does not exist."""
        with self._transport.call(f"waiting for container {short_id(container_id)}"):
            try:
                result = self._transport.api.wait(container_id, timeout=timeout)
            except docker.errors.NotFound as error:
                raise ContainerGone(
                    f"cannot wait for container {short_id(container_id)}: it is gone"
                ) from error
            except CONNECTION_ERRORS as error:
                if timeout is not None and timed_out(error):
                    return None
                raise
        return int(result["StatusCode"])


# --- helpers ---------------------------------------------------------------------------------


def start_new(transport: Transport, container_id: str, spec: ContainerSpec) -> None:
    """Start a container devd just created for ``spec``; a failed start removes it and
    raises ContainerStartFailed."""
    try:
        transport.api.start(container_id)
    except docker.errors.APIError as error:
        transport.discard(container_id)
        raise ContainerStartFailed(_start_failure(spec, error)) from error
    except BaseException:
        transport.discard(container_id)
        raise


def _belongs(attrs: Mapping[str, Any], project: str, service: str | None) -> bool:
    return labelled_as(labels_of(attrs), project, service)


def _foreign_message(holder: Mapping[str, Any], spec: ContainerSpec) -> str:
    labels = labels_of(holder)
    owner = labels.get(LABEL_PROJECT)
    if owner is None:
        whose = f"devd did not create it (it has no {LABEL_PROJECT} label)"
    else:
        whose = f"it belongs to devd project {owner!r}, service {labels.get(LABEL_SERVICE)!r}"
    if spec.name == f"{spec.project}-{spec.service}":
        other = "set `project` in devd.toml so this project's containers get other names"
    else:  # the compose file's container_name
        other = f"change services.{spec.service}.container_name in the compose file"
    return (
        f"container name {spec.name!r} is taken by container {describe(holder)}: {whose}; "
        f"devd leaves it alone: rename or remove it yourself (docker rename / docker rm), "
        f"or {other}"
    )


def _start_failure(spec: ContainerSpec, error: docker.errors.APIError) -> str:
    explanation = engine_said(error)
    if any(phrase in explanation for phrase in _PORT_TAKEN):
        match = _PORT_IN_MESSAGE.search(explanation)
        port = match[1] if match else ", ".join(str(p.host) for p in spec.ports)
        return (
            f"cannot start container {spec.name!r}: host port {port} is already in use "
            "(by another program or container); free it or change the service's ports "
            "in devd.toml"
        )
    return f"cannot start container {spec.name!r}: {one_line(explanation)}"
