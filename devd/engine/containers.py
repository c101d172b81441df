"""The container half of the engine adapter: running services' containers (create, replace,
start, stop, restart, wait, exec, inspect) and the ownership checks every operation makes.
:class:`ContainerOps` is mixed into :class:`devd.engine.Engine`, as are the mixins built on it:
:mod:`devd.container_files` (syncing files), :mod:`devd.container_logs` (output) and
:mod:`devd.images` (the project's images). What a container should be and is, and its
labels, are :mod:`devd.container_spec`.

The hard rule: devd never touches a container or image it did not create. Every container devd
creates carries :func:`devd.container_spec.owner_labels`; listing filters on them, and every
operation that changes a container first checks that it carries ``devd.project`` (replacing
checks project and service too). Images carry ``devd.image`` (:mod:`devd.images`), anchors
their own labels (:mod:`devd.anchors`, which checks them).

What the engine (20.10) does that shaped this module:

* A failed start leaves the container "created"; a port conflict says either
  ``Bind for 0.0.0.0:P failed: port is already allocated`` (another container holds it) or
  ``listen tcp4 0.0.0.0:P: bind: address already in use`` (a host program does).
* The stop API takes whole seconds; "t=0.5" is a server error.
* A wait that times out surfaces as requests' ConnectionError around urllib3's
  ReadTimeoutError (not requests' ReadTimeout).
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import docker.errors
import requests.exceptions
import urllib3.exceptions

from devd.config import ExecHook
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
from devd.errors import (
    ContainerGone,
    ContainerStartFailed,
    EngineError,
    EngineUnavailable,
    ForeignContainer,
    one_line,
)

_PORT_TAKEN = ("port is already allocated", "address already in use")
_PORT_IN_MESSAGE = re.compile(r"(?:Bind for |listen \S+ )\S*:(\d+)")
# Failing to reach the engine at all (APIError is a requests HTTPError too: catch it first).
_CONNECTION_ERRORS = (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError)


_STAT_HEADER = "X-Docker-Container-Path-Stat"  # HEAD .../archive: the stat, base64 JSON


class ContainerOps:
    """Container operations; needs ``client`` (docker-py) and ``_unavailable``."""

    client: Any

    def _unavailable(self, error: BaseException) -> EngineUnavailable:
        """The EngineUnavailable for a connection error (the engine module words it)."""
        raise NotImplementedError

    @contextlib.contextmanager
    def _engine_call(self, what: str) -> Iterator[None]:
        """Translate docker-py/requests errors escaping the block; ``what`` starts the message
        of a refused request ("stopping container abc")."""
        try:
            yield
        except docker.errors.APIError as error:
            raise EngineError(f"{what}: {explanation(error)}") from error
        except _CONNECTION_ERRORS as error:
            raise self._unavailable(error) from error
        except docker.errors.DockerException as error:
            raise EngineError(f"{what}: {one_line(str(error))}") from error

    # --- looking ----------------------------------------------------------------------------

    def containers(self, project: str, service: str | None = None) -> list[ContainerInfo]:
        """Every container (running or not) labelled as ``project``'s (and ``service``'s),
        sorted by name."""
        with self._engine_call(f"listing the containers of project {project!r}"):
            summaries = self.client.api.containers(
                all=True, filters={"label": label_selector(project, service)}
            )
            found = (self._inspect(summary["Id"]) for summary in summaries)
            infos = [
                ContainerInfo.from_inspect(attrs)
                for attrs in found
                if attrs is not None and _belongs(attrs, project, service)
            ]
        return sorted(infos, key=lambda info: info.name)

    def container(self, container_id: str) -> ContainerInfo | None:
        """A fresh look at the container; None when it no longer exists."""
        with self._engine_call(f"inspecting container {short_id(container_id)}"):
            attrs = self._inspect(container_id)
        return None if attrs is None else ContainerInfo.from_inspect(attrs)

    def _inspect(self, container_id: str) -> dict[str, Any] | None:
        try:
            attrs: dict[str, Any] = self.client.api.inspect_container(container_id)
        except docker.errors.NotFound:
            return None
        return attrs

    def path_stat(self, container_id: str, path: str) -> dict[str, Any] | None:
        """The engine's stat of ``path`` in the container (a symlink is not followed), or
        None if the container has no such path."""
        api = self.client.api
        response = api.head(
            api._url("/containers/{0}/archive", container_id),
            params={"path": path},
            timeout=api.timeout,
        )
        if response.status_code == 404:
            return None
        api._raise_for_status(response)
        found: dict[str, Any] = json.loads(base64.b64decode(response.headers[_STAT_HEADER]))
        return found

    def _owned(self, container_id: str, action: str) -> bool:
        """Whether the container exists (False: gone); ForeignContainer if it lacks the
        ``devd.project`` label. A container's labels never change, so a container found to
        be devd's (or made by devd) is not looked at again: the sync and restart paths then
        go straight to their one request, which reports a container gone since by itself."""
        if container_id in self._verified_owned:
            return True
        attrs = self._inspect(container_id)
        if attrs is None:
            return False
        if LABEL_PROJECT not in labels_of(attrs):
            raise ForeignContainer(
                f"refusing to {action} container {_describe(attrs)}: devd did not create it "
                f"(it has no {LABEL_PROJECT} label)"
            )
        self._verified_owned.add(str(attrs["Id"]))  # never a name: names can be taken over
        return True

    @property
    def _verified_owned(self) -> set[str]:
        """Ids of containers known to carry ``devd.project`` (full ids, as devd keeps them)."""
        verified: set[str] | None = self.__dict__.get("_devd_verified_owned")
        if verified is None:
            verified = self.__dict__["_devd_verified_owned"] = set()
        return verified

    # --- running ----------------------------------------------------------------------------

    def replace_container(self, spec: ContainerSpec) -> ContainerInfo:
        """Start a new container for ``spec``'s service after stopping (within
        ``spec.stop_timeout``) and removing the old one: the container named ``spec.name``
        and any other labelled with the project and service. A container holding the name
        without those labels raises ForeignContainer and is left alone. An anchored spec's
        container joins the service's anchor (devd.anchors; made or started as needed, its name
        checked before anything is stopped). A failed start removes the new container (not
        the anchor, which holds no state) and raises ContainerStartFailed."""
        with self._engine_call(f"replacing container {spec.name!r}"):
            holder = self._name_holder(spec.name)
            if holder is not None and not _belongs(holder, spec.project, spec.service):
                raise ForeignContainer(_foreign_message(holder, spec))
            anchor = self._anchor_plan(spec)  # its checks too, while the old one serves
            summaries = self.client.api.containers(
                all=True, filters={"label": label_selector(spec.project, spec.service)}
            )
            old = [summary["Id"] for summary in summaries]
            if holder is not None and holder["Id"] not in old:
                old.append(holder["Id"])
            for container_id in old:
                self._stop_and_remove(container_id, spec.stop_timeout)
            container_id = self._create(spec, self._anchor_up(spec, anchor))
            self._start(container_id, spec)
            attrs = self._inspect(container_id)
        if attrs is None:
            raise ContainerGone(f"container {spec.name!r} vanished right after it started")
        return ContainerInfo.from_inspect(attrs)

    def _name_holder(self, name: str) -> dict[str, Any] | None:
        # Inspecting by name also matches an id prefix: keep only an exact name.
        attrs = self._inspect(name)
        return attrs if attrs is not None and attrs.get("Name") == f"/{name}" else None

    def _stop_and_remove(self, container_id: str, timeout: float) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self.client.api.stop(container_id, timeout=whole_seconds(timeout))
        self._force_remove(container_id)

    def _force_remove(self, container_id: str) -> None:
        try:
            self.client.api.remove_container(container_id, force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as error:
            if "already in progress" not in engine_said(error):
                raise
        self._verified_owned.discard(container_id)  # gone: its id need not be remembered

    # Anchors (devd.anchors, which overrides these): here, containers have networks of their own.

    def _anchor_plan(self, spec: ContainerSpec) -> Any:
        """What replacing will do about ``spec``'s anchor, decided before anything stops."""
        return None

    def _anchor_up(self, spec: ContainerSpec, plan: Any) -> str | None:
        """The id of the anchor whose network ``spec``'s container joins; None: its own."""
        return None

    def _wake_anchor(self, error: docker.errors.APIError) -> bool:
        """Whether ``error`` was a stopped anchor, started again now."""
        return False

    def _create(self, spec: ContainerSpec, anchor: str | None = None) -> str:
        try:
            options = create_options(self.client.api, spec, anchor)
            created = self.client.api.create_container(**options)
        except docker.errors.ImageNotFound as error:
            raise ContainerStartFailed(
                f"cannot create container {spec.name!r}: no image {spec.image!r}"
            ) from error
        except docker.errors.APIError as error:
            raise ContainerStartFailed(
                f"cannot create container {spec.name!r}: {explanation(error)}"
            ) from error
        container_id = str(created["Id"])
        self._verified_owned.add(container_id)  # made with spec.labels, devd.project included
        return container_id

    def _start(self, container_id: str, spec: ContainerSpec) -> None:
        try:
            self.client.api.start(container_id)
        except docker.errors.APIError as error:
            self._discard(container_id)
            raise ContainerStartFailed(_start_failure(spec, error)) from error
        except BaseException:
            self._discard(container_id)
            raise

    def _discard(self, container_id: str) -> None:
        """Remove a half-made container, best effort: the caller is raising already."""
        with contextlib.suppress(docker.errors.DockerException, *_CONNECTION_ERRORS):
            self._force_remove(container_id)

    def start_container(self, container_id: str) -> ContainerInfo:
        """Start a stopped container of devd's again (nothing if it runs); ContainerGone if
        it is gone."""
        gone = ContainerGone(f"cannot start container {short_id(container_id)}: it is gone")
        with self._engine_call(f"starting container {short_id(container_id)}"):
            if not self._owned(container_id, "start"):
                raise gone
            try:
                self._with_anchor(lambda: self.client.api.start(container_id))
            except docker.errors.NotFound as error:
                raise gone from error
            attrs = self._inspect(container_id)
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
            if not self._wake_anchor(error):
                raise
            request()

    def stop_container(self, container_id: str, timeout: float) -> None:
        """Stop it (SIGTERM, SIGKILL after ``timeout`` s); nothing if stopped or gone."""
        with self._engine_call(f"stopping container {short_id(container_id)}"):
            if not self._owned(container_id, "stop"):
                return
            with contextlib.suppress(docker.errors.NotFound):
                self.client.api.stop(container_id, timeout=whole_seconds(timeout))

    def remove_container(self, container_id: str) -> None:
        """Remove it, running or not, with its anonymous volumes; nothing if gone."""
        with self._engine_call(f"removing container {short_id(container_id)}"):
            if self._owned(container_id, "remove"):
                self._force_remove(container_id)

    def restart_container(self, container_id: str, timeout: float) -> ContainerInfo:
        """Stop it (within ``timeout`` s) and start it again; ContainerGone if it is gone."""
        with self._engine_call(f"restarting container {short_id(container_id)}"):
            if self._owned(container_id, "restart"):
                with contextlib.suppress(docker.errors.NotFound):
                    seconds = whole_seconds(timeout)
                    self._with_anchor(
                        lambda: self.client.api.restart(container_id, timeout=seconds)
                    )
            attrs = self._inspect(container_id)
        if attrs is None:
            raise ContainerGone(f"cannot restart container {short_id(container_id)}: it is gone")
        return ContainerInfo.from_inspect(attrs)

    def wait_container(self, container_id: str, timeout: float | None = None) -> int | None:
        """Wait for it to stop and give its exit code; None when ``timeout`` s pass first.
        ContainerGone if it does not exist."""
        with self._engine_call(f"waiting for container {short_id(container_id)}"):
            try:
                result = self.client.api.wait(container_id, timeout=timeout)
            except docker.errors.NotFound as error:
                raise ContainerGone(
                    f"cannot wait for container {short_id(container_id)}: it is gone"
                ) from error
            except _CONNECTION_ERRORS as error:
                if timeout is not None and timed_out(error):
                    return None
                raise
        return int(result["StatusCode"])

    def exec_in(
        self, container_id: str, command: tuple[str, ...] | ExecHook
    ) -> tuple[int | None, list[str]]:
        """Run ``command`` in the running container (a bare command as the container's user,
        in its working directory; an :class:`ExecHook` as it says); its exit code and output
        lines. ContainerGone if the container is gone."""
        hook = command if isinstance(command, ExecHook) else ExecHook(command)
        what = f"running {list(hook.command)} in container {short_id(container_id)}"
        with self._engine_call(what):
            if not self._owned(container_id, "run a command in"):
                raise ContainerGone(
                    f"cannot exec in container {short_id(container_id)}: it is gone"
                )
            exec_id = self.client.api.exec_create(
                container_id,
                list(hook.command),
                user=hook.user or "",
                workdir=hook.working_dir,
                environment=dict(hook.environment) or None,
                privileged=hook.privileged,
            )["Id"]
            output = self.client.api.exec_start(exec_id)
            code = self.client.api.exec_inspect(exec_id).get("ExitCode")
        text = output.decode("utf-8", errors="replace") if output else ""
        return (int(code) if code is not None else None), text.splitlines()


# --- helpers ---------------------------------------------------------------------------------


def _belongs(attrs: Mapping[str, Any], project: str, service: str | None) -> bool:
    return labelled_as(labels_of(attrs), project, service)


def short_id(container_id: str) -> str:
    return container_id[:12]


def _describe(attrs: Mapping[str, Any]) -> str:
    return f"{str(attrs.get('Name', '')).lstrip('/')!r} ({short_id(attrs['Id'])})"


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
        f"container name {spec.name!r} is taken by container {_describe(holder)}: {whose}; "
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


def engine_said(error: docker.errors.APIError) -> str:
    """The engine's own words, whole (without docker-py's "500 Server Error for ..." prefix)."""
    explanation = error.explanation
    return explanation if isinstance(explanation, str) and explanation else str(error)


def explanation(error: docker.errors.APIError) -> str:
    """What the engine said, fit for a one-line message."""
    return one_line(engine_said(error))


def timed_out(error: BaseException) -> bool:
    """Whether a requests/urllib3 error is a read timeout (however deeply wrapped)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, requests.exceptions.ReadTimeout | urllib3.exceptions.ReadTimeoutError):
            return True
        if any(isinstance(arg, urllib3.exceptions.ReadTimeoutError) for arg in seen.args):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
