"""The container half of the engine adapter: running services, syncing files, logs, and the
project's images. :class:`ContainerOps` is mixed into :class:`devd.engine.Engine`.

The hard rule: devd never touches a container or image it did not create. Everything devd
creates carries :func:`owner_labels`; listing filters on them, and every operation that
changes a container first checks that it carries ``devd.project`` (replacing checks project
and service too).

What the engine (20.10) does that shaped this module:

* ``put_archive`` creates missing parent directories itself (0755, root). A directory entry in
  the archive for a directory that exists *replaces its mode and owner* (``/tmp`` would lose
  its sticky 1777), so archives hold only the files, never directory entries.
* A failed start leaves the container "created"; a port conflict says either
  ``Bind for 0.0.0.0:P failed: port is already allocated`` (another container holds it) or
  ``listen tcp4 0.0.0.0:P: bind: address already in use`` (a host program does).
* The stop API takes whole seconds; "t=0.5" is a server error.
* A followed log stream ends when the container stops or is removed, sometimes before the
  engine has logged what the container left without a final newline. Log entries are lines
  cut at 16 KiB; stdout and stderr entries interleave even between the pieces of one line.
  A restart keeps the log file, and a stream followed across a restart can end with the new
  run's first lines (the engine drains the file after the run stops).
* A wait that times out surfaces as requests' ConnectionError around urllib3's
  ReadTimeoutError (not requests' ReadTimeout).
"""

from __future__ import annotations

import contextlib
import errno
import io
import math
import os
import posixpath
import re
import stat
import tarfile
import tempfile
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import docker.errors
import docker.types
import requests.exceptions
import urllib3.exceptions

from devd.config import Healthcheck, Mount, PortMapping
from devd.errors import (
    ContainerGone,
    ContainerStartFailed,
    EngineError,
    EngineUnavailable,
    ForeignContainer,
    SyncRefused,
    one_line,
)
from devd.generations import ImageInfo, superseded

LABEL_PROJECT = "devd.project"
LABEL_SERVICE = "devd.service"

_NEVER_STARTED = "0001-01-01T00:00:00Z"
_SENT_CONTAINERS = 16  # containers whose synced files put_files remembers
_LATE_ENTRIES = 4  # log entries to check for ones logged after a followed stream ended
_PORT_TAKEN = ("port is already allocated", "address already in use")
_PORT_IN_MESSAGE = re.compile(r"(?:Bind for |listen \S+ )\S*:(\d+)")
# Failing to reach the engine at all (APIError is a requests HTTPError too: catch it first).
_CONNECTION_ERRORS = (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError)


def owner_labels(project: str, service: str) -> dict[str, str]:
    """The labels that make a container or image devd's, for ``project``'s ``service``."""
    return {LABEL_PROJECT: project, LABEL_SERVICE: service}


@dataclass(frozen=True)
class ContainerSpec:
    """What a service's container should be. ``command`` None runs the image's default."""

    name: str
    image: str
    project: str
    service: str
    ports: tuple[PortMapping, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    command: tuple[str, ...] | None = None
    stop_timeout: float = 10.0
    extra_labels: Mapping[str, str] = field(default_factory=dict)  # devd's own labels win
    entrypoint: tuple[str, ...] | None = None  # None: the image's
    working_dir: str | None = None
    user: str | None = None
    init: bool = True
    mounts: tuple[Mount, ...] = ()
    network: str | None = None  # joined with the service name as alias; None: default bridge
    healthcheck: Healthcheck | None = None  # None: the image's

    @property
    def labels(self) -> dict[str, str]:
        return {**self.extra_labels, **owner_labels(self.project, self.service)}


@dataclass(frozen=True)
class ContainerInfo:
    """A container as the engine last described it. ``exit_code`` is None unless it exited;
    ``started_at`` (RFC 3339, from the engine) is None if it never started."""

    id: str
    name: str
    image_id: str
    service: str
    status: str
    exit_code: int | None
    started_at: str | None
    health: str | None = None  # "starting", "healthy", "unhealthy"; None: no healthcheck

    @classmethod
    def from_inspect(cls, attrs: Mapping[str, Any]) -> ContainerInfo:
        state = attrs.get("State") or {}
        status = str(state.get("Status", "unknown"))
        started = state.get("StartedAt")
        return cls(
            id=attrs["Id"],
            name=str(attrs.get("Name", "")).lstrip("/"),
            image_id=str(attrs.get("Image", "")),
            service=_labels(attrs).get(LABEL_SERVICE, ""),
            status=status,
            exit_code=int(state["ExitCode"]) if status in ("exited", "dead") else None,
            started_at=started if started and started != _NEVER_STARTED else None,
            health=(state.get("Health") or {}).get("Status"),
        )


class ContainerOps:
    """Container and image operations; needs ``client`` (docker-py) and ``_unavailable``."""

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
            raise EngineError(f"{what}: {_explanation(error)}") from error
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
                all=True, filters={"label": _selector(project, service)}
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
        with self._engine_call(f"inspecting container {_short(container_id)}"):
            attrs = self._inspect(container_id)
        return None if attrs is None else ContainerInfo.from_inspect(attrs)

    def _inspect(self, container_id: str) -> dict[str, Any] | None:
        try:
            attrs: dict[str, Any] = self.client.api.inspect_container(container_id)
        except docker.errors.NotFound:
            return None
        return attrs

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
        if LABEL_PROJECT not in _labels(attrs):
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
        without those labels raises ForeignContainer and is left alone. A failed start
        removes the new container and raises ContainerStartFailed."""
        with self._engine_call(f"replacing container {spec.name!r}"):
            holder = self._name_holder(spec.name)
            if holder is not None and not _belongs(holder, spec.project, spec.service):
                raise ForeignContainer(_foreign_message(holder, spec))
            summaries = self.client.api.containers(
                all=True, filters={"label": _selector(spec.project, spec.service)}
            )
            old = [summary["Id"] for summary in summaries]
            if holder is not None and holder["Id"] not in old:
                old.append(holder["Id"])
            for container_id in old:
                self._stop_and_remove(container_id, spec.stop_timeout)
            container_id = self._create(spec)
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
            self.client.api.stop(container_id, timeout=_whole_seconds(timeout))
        self._force_remove(container_id)

    def _force_remove(self, container_id: str) -> None:
        try:
            self.client.api.remove_container(container_id, force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as error:
            if "already in progress" not in _engine_said(error):
                raise
        self._verified_owned.discard(container_id)  # gone: its id need not be remembered

    def _create(self, spec: ContainerSpec) -> str:
        bindings: dict[str, list[tuple[str, int | str]]] = {}
        for port in spec.ports:
            host_ip = (port.host_ip or "0.0.0.0").strip("[]")
            bindings.setdefault(f"{port.container}/{port.protocol}", []).append(
                (host_ip, port.host or "")  # "": the engine picks a free host port
            )
        api = self.client.api
        network = spec.network
        try:
            created = api.create_container(
                image=spec.image,
                command=list(spec.command) if spec.command is not None else None,
                name=spec.name,
                labels=spec.labels,
                environment=dict(spec.environment),
                ports=[tuple(key.split("/")) for key in bindings],
                detach=True,
                stop_timeout=_whole_seconds(spec.stop_timeout),
                entrypoint=list(spec.entrypoint) if spec.entrypoint is not None else None,
                working_dir=spec.working_dir,
                user=spec.user,
                healthcheck=_healthcheck(spec.healthcheck),
                networking_config=api.create_networking_config(
                    {network: api.create_endpoint_config(aliases=[spec.service])}
                )
                if network
                else None,
                host_config=api.create_host_config(
                    port_bindings=bindings,
                    init=spec.init,
                    mounts=[_mount(mount) for mount in spec.mounts] or None,
                    network_mode=network,
                ),
            )
        except docker.errors.ImageNotFound as error:
            raise ContainerStartFailed(
                f"cannot create container {spec.name!r}: no image {spec.image!r}"
            ) from error
        except docker.errors.APIError as error:
            raise ContainerStartFailed(
                f"cannot create container {spec.name!r}: {_explanation(error)}"
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
        gone = ContainerGone(f"cannot start container {_short(container_id)}: it is gone")
        with self._engine_call(f"starting container {_short(container_id)}"):
            if not self._owned(container_id, "start"):
                raise gone
            try:
                self.client.api.start(container_id)
            except docker.errors.NotFound as error:
                raise gone from error
            attrs = self._inspect(container_id)
        if attrs is None:
            raise gone
        return ContainerInfo.from_inspect(attrs)

    def stop_container(self, container_id: str, timeout: float) -> None:
        """Stop it (SIGTERM, SIGKILL after ``timeout`` s); nothing if stopped or gone."""
        with self._engine_call(f"stopping container {_short(container_id)}"):
            if not self._owned(container_id, "stop"):
                return
            with contextlib.suppress(docker.errors.NotFound):
                self.client.api.stop(container_id, timeout=_whole_seconds(timeout))

    def remove_container(self, container_id: str) -> None:
        """Remove it, running or not, with its anonymous volumes; nothing if gone."""
        with self._engine_call(f"removing container {_short(container_id)}"):
            if self._owned(container_id, "remove"):
                self._force_remove(container_id)

    def restart_container(self, container_id: str, timeout: float) -> ContainerInfo:
        """Stop it (within ``timeout`` s) and start it again; ContainerGone if it is gone."""
        with self._engine_call(f"restarting container {_short(container_id)}"):
            if self._owned(container_id, "restart"):
                with contextlib.suppress(docker.errors.NotFound):
                    self.client.api.restart(container_id, timeout=_whole_seconds(timeout))
            attrs = self._inspect(container_id)
        if attrs is None:
            raise ContainerGone(f"cannot restart container {_short(container_id)}: it is gone")
        return ContainerInfo.from_inspect(attrs)

    def wait_container(self, container_id: str, timeout: float | None = None) -> int | None:
        """Wait for it to stop and give its exit code; None when ``timeout`` s pass first.
        ContainerGone if it does not exist."""
        with self._engine_call(f"waiting for container {_short(container_id)}"):
            try:
                result = self.client.api.wait(container_id, timeout=timeout)
            except docker.errors.NotFound as error:
                raise ContainerGone(
                    f"cannot wait for container {_short(container_id)}: it is gone"
                ) from error
            except _CONNECTION_ERRORS as error:
                if timeout is not None and _timed_out(error):
                    return None
                raise
        return int(result["StatusCode"])

    # --- files ------------------------------------------------------------------------------

    def put_files(self, container_id: str, files: Mapping[str, Path | None]) -> int:
        """Make each container path (absolute) hold a copy of its host file, or not exist
        (None). Copies go in one archive; deletions run first, in one ``rm -rf``. A host file
        that no longer exists counts as a deletion. Raises SyncRefused, before touching
        anything, for a path that is not absolute or has a ``..`` component.

        A host file this container already got from devd, unchanged since (same inode,
        size, modification and change times), is not sent again: a caller that copied a
        save early and copies the whole batch once it is complete pays for it once.
        Returns how many paths it copied or deleted."""
        plan = {_container_path(path): host for path, host in files.items()}
        if not plan:
            return 0
        sent = self._sent_to(container_id)
        stamps = {path: _stamp(Path(host)) for path, host in plan.items() if host is not None}
        copies = {
            path: Path(host)
            for path, host in plan.items()
            if host is not None and (stamps[path] is None or sent.get(path) != stamps[path])
        }
        deletions = [path for path, host in plan.items() if host is None]
        archive, vanished = _archive(copies)
        deletions += vanished
        if archive is None and not deletions:
            return 0  # all of it was copied already: nothing to ask of the engine
        with self._engine_call(f"syncing files into container {_short(container_id)}"):
            gone = ContainerGone(
                f"cannot sync files into container {_short(container_id)}: it is gone"
            )
            if not self._owned(container_id, "sync files into"):
                raise gone
            try:
                if deletions:
                    self._delete(container_id, deletions)
                if archive is not None:
                    self.client.api.put_archive(container_id, "/", archive)
            except docker.errors.NotFound as error:
                raise gone from error
            finally:
                if archive is not None and not isinstance(archive, bytes):
                    archive.close()
        for path in deletions:
            sent.pop(path, None)
        for path in copies:
            if path not in vanished and stamps[path] is not None:
                sent[path] = stamps[path]
        return len(copies) + len(deletions) - len(vanished)

    def _sent_to(self, container_id: str) -> dict[str, tuple[int, ...] | None]:
        """What ``put_files`` copied into the container: container path -> host file stamp
        (kept for the last few containers)."""
        memo: dict[str, dict[str, tuple[int, ...] | None]] | None = self.__dict__.get(
            "_devd_sent_files"
        )
        if memo is None:
            memo = self.__dict__["_devd_sent_files"] = {}
        if container_id not in memo:
            while len(memo) >= _SENT_CONTAINERS:
                del memo[next(iter(memo))]
            memo[container_id] = {}
        return memo[container_id]

    def _delete(self, container_id: str, paths: list[str]) -> None:
        exec_id = self.client.api.exec_create(container_id, ["rm", "-rf", "--", *paths], user="0")
        output = self.client.api.exec_start(exec_id["Id"])
        code = self.client.api.exec_inspect(exec_id["Id"]).get("ExitCode")
        if code != 0:
            said = one_line(output.decode(errors="replace")) if output else "no output"
            raise EngineError(
                f"deleting {', '.join(paths)} in container {_short(container_id)} failed "
                f"(rm exited {code}): {said}"
            )

    def exec_in(self, container_id: str, command: tuple[str, ...]) -> tuple[int | None, list[str]]:
        """Run ``command`` in the running container (as its user, in its working directory);
        its exit code and output lines. ContainerGone if the container is gone."""
        with self._engine_call(f"running {list(command)} in container {_short(container_id)}"):
            if not self._owned(container_id, "run a command in"):
                raise ContainerGone(f"cannot exec in container {_short(container_id)}: it is gone")
            exec_id = self.client.api.exec_create(container_id, list(command))["Id"]
            output = self.client.api.exec_start(exec_id)
            code = self.client.api.exec_inspect(exec_id).get("ExitCode")
        text = output.decode("utf-8", errors="replace") if output else ""
        return (int(code) if code is not None else None), text.splitlines()

    # --- logs -------------------------------------------------------------------------------

    def follow_logs(self, container_id: str) -> Iterator[str]:
        """Its output lines (stdout and stderr, in the order logged) until it stops or is
        removed; ends at once if it is gone already. A running container's lines start with
        its current run (after restart_container the earlier run is not repeated); a
        stopped one's are all its output."""
        what = f"following the logs of container {_short(container_id)}"
        lines = _LogLines()
        with self._engine_call(what):
            attrs = self._inspect(container_id)
            if attrs is None:
                return
            since = _current_run_start(attrs)
            try:
                stream = self._log_frames(container_id, follow=True, since=since)
            except docker.errors.APIError as error:
                if _gone(error):
                    return
                raise
        try:
            with self._engine_call(what):
                for frame in stream:
                    yield from lines.feed(frame)
        finally:
            stream.close()
        with self._engine_call(what):
            late = self._late_frames(container_id, lines, since)
        for frame in late:
            yield from lines.feed(frame)
        yield from lines.finish()

    def _late_frames(self, container_id: str, lines: _LogLines, since: float | None) -> list[bytes]:
        """The entries the engine logged after ending a followed stream. It ends the stream
        as the container stops, and can log what the container left unfinished (output
        without a final newline) only after that: look for unseen entries at the end."""
        attrs = self._inspect(container_id)
        status = (attrs or {}).get("State", {}).get("Status")
        if status not in ("exited", "created"):
            return []  # gone, going, or running again after a restart (a new follow shows it)
        try:
            stream = self._log_frames(container_id, follow=False, tail=_LATE_ENTRIES, since=since)
        except docker.errors.APIError as error:
            if _gone(error):
                return []
            raise
        try:
            return [frame for frame in stream if not lines.seen(frame)]
        finally:
            stream.close()

    def tail_logs(self, container_id: str, lines: int = 20) -> list[str]:
        """Its last ``lines`` output lines; [] if it is gone."""
        if lines <= 0:
            return []
        assembled = _LogLines()
        with self._engine_call(f"reading the logs of container {_short(container_id)}"):
            try:
                stream = self._log_frames(container_id, follow=False, tail=lines)
            except docker.errors.APIError as error:
                if _gone(error):
                    return []
                raise
            try:
                found = [line for frame in stream for line in assembled.feed(frame)]
            finally:
                stream.close()
        found += assembled.finish()
        return found[-lines:]

    def _log_frames(
        self,
        container_id: str,
        *,
        follow: bool,
        tail: int | None = None,
        since: float | None = None,
    ) -> Any:
        """The logs (from ``since``, in seconds since the epoch) as a closable stream of
        entries, each ``b"<RFC 3339 time> <text>"``."""
        return self.client.api.logs(
            container_id,
            stdout=True,
            stderr=True,
            stream=True,
            follow=follow,
            timestamps=True,
            tail="all" if tail is None else tail,
            since=since,
        )

    # --- images -----------------------------------------------------------------------------

    def images(self, project: str) -> list[str]:
        """Ids of the images labelled as ``project``'s, newest first (untagged ones too;
        not the intermediate images of builds)."""
        with self._engine_call(f"listing the images of project {project!r}"):
            summaries = self._image_summaries(project)
        return [summary["Id"] for summary in summaries]

    def _image_summaries(self, project: str) -> list[dict[str, Any]]:
        summaries = self.client.api.images(filters={"label": _selector(project, None)})
        ours = [s for s in summaries if (s.get("Labels") or {}).get(LABEL_PROJECT) == project]
        return sorted(ours, key=lambda summary: summary.get("Created", 0), reverse=True)

    def remove_project_images(self, project: str) -> int:
        """Remove ``project``'s images (with the untagged build layers under them, as
        ``docker rmi`` does); returns how many. Not forced: an image that a container, or an
        image not labelled as the project's, still uses is kept, and EngineError says so
        once the others are gone."""
        removed = 0
        kept: list[str] = []
        with self._engine_call(f"removing the images of project {project!r}"):
            pending = self._image_summaries(project)
            while pending:
                # A project image built on another must go first: retry the refused ones
                # while each round removes something.
                refused: list[dict[str, Any]] = []
                kept = []
                for summary in pending:
                    try:
                        self._remove_image(summary)
                    except docker.errors.NotFound:
                        continue
                    except docker.errors.APIError as error:
                        if error.status_code != 409:
                            raise
                        refused.append(summary)
                        kept.append(_explanation(error))
                        continue
                    removed += 1
                if len(refused) == len(pending):
                    break
                pending = refused
        if kept:
            raise EngineError(
                f"removed {removed} image(s) of project {project!r} but kept {len(kept)}: "
                f"{kept[0]}; remove what uses them first"
            )
        return removed

    def _remove_image(self, summary: Mapping[str, Any]) -> None:
        image_id = summary["Id"]
        try:
            self.client.api.remove_image(image_id)
        except docker.errors.APIError as error:
            if "multiple repositories" not in _engine_said(error):
                raise
            # Tagged more than once: untag each tag still on this image; the last one goes.
            for tag in summary.get("RepoTags") or ():
                if self._image_id(tag) == image_id:
                    self.client.api.remove_image(tag)

    def remove_superseded_images(self, project: str, service: str, current: str) -> list[str]:
        """Remove the images of ``project``'s ``service`` that image ``current`` supersedes
        (:func:`devd.generations.superseded`), with the untagged build layers only they
        used; returns their ids. Never forced: one the engine refuses (a container uses it,
        it was tagged meanwhile) stays."""
        owner = owner_labels(project, service)
        removed: list[str] = []
        with self._engine_call(f"removing superseded images of service {service!r}"):
            selector = {"label": _selector(project, service)}
            summaries = self.client.api.images(filters=selector)
            containers = self.client.api.containers(all=True, filters=selector)
            in_use = {str(summary.get("ImageID")) for summary in containers}
            images = [ImageInfo.from_summary(summary) for summary in summaries]
            for image_id in superseded(images, current, owner, in_use):
                try:
                    self.client.api.remove_image(image_id, force=False, noprune=False)
                except docker.errors.NotFound:
                    continue
                except docker.errors.APIError as error:
                    if error.status_code != 409:
                        raise
                    continue
                removed.append(image_id)
        return removed

    def remove_failed_build_images(self, image_ids: Sequence[str]) -> int:
        """Remove the images a failed build made for its steps (``BuildFailed.created_images``,
        first step first), last step first; returns how many went. They carry no labels
        (the classic builder adds those last), but the build that made them just failed, so
        only the build cache could want them. One that is tagged, or that an image or
        container now uses, is kept; nothing else is removed with them (``noprune``)."""
        removed = 0
        with self._engine_call("removing the images of a failed build"):
            for image_id in reversed(image_ids):
                try:
                    if self.client.api.inspect_image(image_id).get("RepoTags"):
                        continue
                    self.client.api.remove_image(image_id, force=False, noprune=True)
                except docker.errors.NotFound:
                    continue
                except docker.errors.APIError as error:
                    if error.status_code != 409:
                        raise
                    continue
                removed += 1
        return removed

    def image_id(self, ref: str) -> str | None:
        """The id of the image ``ref`` names; None when there is no such image."""
        with self._engine_call(f"looking up image {ref!r}"):
            return self._image_id(ref)

    def _image_id(self, ref: str) -> str | None:
        try:
            return str(self.client.api.inspect_image(ref)["Id"])
        except docker.errors.NotFound:
            return None


# --- helpers ---------------------------------------------------------------------------------


def _nanoseconds(seconds: float) -> int:
    return round(seconds * 1_000_000_000)


def _healthcheck(check: Healthcheck | None) -> dict[str, Any] | None:
    """The engine's healthcheck config (its durations are nanoseconds)."""
    if check is None:
        return None
    return {
        "test": list(check.test),
        "interval": _nanoseconds(check.interval_s),
        "timeout": _nanoseconds(check.timeout_s),
        "retries": check.retries,
        "start_period": _nanoseconds(check.start_period_s),
    }


def _mount(mount: Mount) -> docker.types.Mount:
    """A bind, named (or anonymous, empty source) volume, or tmpfs mount."""
    source = mount.source or None if mount.kind != "tmpfs" else None
    return docker.types.Mount(mount.target, source, type=mount.kind, read_only=mount.read_only)


def _labels(attrs: Mapping[str, Any]) -> dict[str, str]:
    return dict((attrs.get("Config") or {}).get("Labels") or {})


def _belongs(attrs: Mapping[str, Any], project: str, service: str | None) -> bool:
    labels = _labels(attrs)
    return labels.get(LABEL_PROJECT) == project and (
        service is None or labels.get(LABEL_SERVICE) == service
    )


def _selector(project: str, service: str | None) -> list[str]:
    selector = [f"{LABEL_PROJECT}={project}"]
    if service is not None:
        selector.append(f"{LABEL_SERVICE}={service}")
    return selector


def _short(container_id: str) -> str:
    return container_id[:12]


def _describe(attrs: Mapping[str, Any]) -> str:
    return f"{str(attrs.get('Name', '')).lstrip('/')!r} ({_short(attrs['Id'])})"


def _foreign_message(holder: Mapping[str, Any], spec: ContainerSpec) -> str:
    labels = _labels(holder)
    owner = labels.get(LABEL_PROJECT)
    if owner is None:
        whose = f"devd did not create it (it has no {LABEL_PROJECT} label)"
    else:
        whose = f"it belongs to devd project {owner!r}, service {labels.get(LABEL_SERVICE)!r}"
    return (
        f"container name {spec.name!r} is taken by container {_describe(holder)}: {whose}; "
        f"devd leaves it alone: rename or remove it yourself (docker rename / docker rm), "
        f"or set `project` in devd.toml so this project's containers get other names"
    )


def _start_failure(spec: ContainerSpec, error: docker.errors.APIError) -> str:
    explanation = _engine_said(error)
    if any(phrase in explanation for phrase in _PORT_TAKEN):
        match = _PORT_IN_MESSAGE.search(explanation)
        port = match[1] if match else ", ".join(str(p.host) for p in spec.ports)
        return (
            f"cannot start container {spec.name!r}: host port {port} is already in use "
            "(by another program or container); free it or change the service's ports "
            "in devd.toml"
        )
    return f"cannot start container {spec.name!r}: {one_line(explanation)}"


def _current_run_start(attrs: Mapping[str, Any]) -> float | None:
    """Where a running container's current run begins in its logs: the end of the run
    before (a restart keeps the log). None, meaning from the first start, if it is not
    running or never stopped."""
    state = attrs.get("State") or {}
    finished = state.get("FinishedAt")
    if not state.get("Running") or not finished or finished == _NEVER_STARTED:
        return None
    try:
        return datetime.fromisoformat(finished).timestamp()
    except ValueError:
        return None


def _gone(error: docker.errors.APIError) -> bool:
    """Whether the engine refused because the container is gone or being removed (its logs
    then answer 409 "can not get logs from container which is dead or marked for removal")."""
    return isinstance(error, docker.errors.NotFound) or (
        error.status_code == 409 and "marked for removal" in _engine_said(error)
    )


def _engine_said(error: docker.errors.APIError) -> str:
    """The engine's own words, whole (without docker-py's "500 Server Error for ..." prefix)."""
    explanation = error.explanation
    return explanation if isinstance(explanation, str) and explanation else str(error)


def _explanation(error: docker.errors.APIError) -> str:
    """What the engine said, fit for a one-line message."""
    return one_line(_engine_said(error))


def _whole_seconds(timeout: float) -> int:
    """The engine's stop timeouts are whole seconds: round up, so a wait is never cut short."""
    return max(0, math.ceil(timeout))


def _timed_out(error: BaseException) -> bool:
    """Whether a requests/urllib3 error is a read timeout (however deeply wrapped)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, requests.exceptions.ReadTimeout | urllib3.exceptions.ReadTimeoutError):
            return True
        if any(isinstance(arg, urllib3.exceptions.ReadTimeoutError) for arg in seen.args):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class _LogLines:
    """Assembles the logs API's entries into lines.

    Each entry is one frame, ``b"<time> <text>"``. Text ending in a newline ends a line;
    text without one is part of a longer line: the engine cuts lines at 16 KiB (the pieces
    keep the time of the first) and logs what a stopping container left unfinished. stdout
    and stderr entries interleave, even between the pieces of one line, so unfinished lines
    are kept apart by their time.
    """

    def __init__(self) -> None:
        self._pending: dict[bytes, bytes] = {}
        self._recent: deque[bytes] = deque(maxlen=4 * _LATE_ENTRIES)

    def feed(self, frame: bytes) -> Iterator[str]:
        self._recent.append(frame)
        stamp, _, text = frame.partition(b" ")
        if text.endswith(b"\n"):
            yield _decode(self._pending.pop(stamp, b"") + text[:-1])
        else:
            self._pending[stamp] = self._pending.get(stamp, b"") + text

    def seen(self, frame: bytes) -> bool:
        """Whether ``frame`` was among the last entries fed (times make entries unique)."""
        return frame in self._recent

    def finish(self) -> list[str]:
        """The unfinished lines, once no more entries will come."""
        rest = [_decode(text) for text in self._pending.values()]
        self._pending.clear()
        return rest


def _decode(line: bytes) -> str:
    return line.decode("utf-8", errors="replace").removesuffix("\r")


# --- sync archives ---------------------------------------------------------------------------


def _container_path(path: str) -> str:
    """``path`` normalised ("//" and "." collapsed); SyncRefused unless it is absolute, below
    the root, and free of ``..`` components."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise SyncRefused(f"refusing to sync {path!r}: container paths must be absolute")
    if "\0" in path or ".." in path.split("/"):
        raise SyncRefused(f"refusing to sync {path!r}: container paths may not contain '..'")
    normal = "/" + posixpath.normpath(path).lstrip("/")
    if normal == "/":
        raise SyncRefused(f"refusing to sync {path!r}: it names the container's root")
    return normal


def _stamp(host: Path) -> tuple[int, ...] | None:
    """What changes whenever a file's content, mode or identity does; None if it is gone."""
    try:
        status = os.lstat(host)
    except OSError:
        return None
    return (
        status.st_dev, status.st_ino, status.st_mode, status.st_size,
        status.st_mtime_ns, status.st_ctime_ns,
    )  # fmt: skip


_STREAM_FROM = 1 << 20  # a synced file this big is copied in chunks, not read whole
_IN_MEMORY = 16 << 20  # a sync archive bigger than this is spooled to a temporary file


def _through_symlink(host: Path) -> bool:
    """Whether a directory on the way to ``host`` is a symlink (``host`` itself may be)."""
    parent = os.path.abspath(host.parent)
    return os.path.realpath(parent) != parent


def _archive(copies: Mapping[str, Path]) -> tuple[bytes | IO[bytes] | None, list[str]]:
    """A tar of the host files at their container paths (relative to "/"), or None when
    empty; and the container paths whose host file no longer exists. Up to
    :data:`_IN_MEMORY` bytes the tar is bytes; a bigger one is a temporary file at offset 0
    (the caller closes it): a big file is copied through in chunks, never held in memory."""
    buffer = tempfile.SpooledTemporaryFile(max_size=_IN_MEMORY)  # noqa: SIM115 - returned
    vanished: list[str] = []
    count = 0
    try:
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path, host in copies.items():
                member = _member(path.lstrip("/"), host)
                if member is None:
                    vanished.append(path)
                    continue
                info, content = member
                if content is None:
                    tar.addfile(info)
                else:
                    with content:
                        _add(tar, info, content, host)
                count += 1
        size = buffer.tell()
        buffer.seek(0)
        if count and size > _IN_MEMORY:
            return buffer, vanished
        tar_bytes = buffer.read() if count else None
    except BaseException:
        buffer.close()
        raise
    buffer.close()
    return tar_bytes, vanished


def _add(tar: tarfile.TarFile, info: tarfile.TarInfo, content: IO[bytes], host: Path) -> None:
    try:
        tar.addfile(info, content)
    except OSError as error:  # tarfile: "unexpected end of data"
        raise SyncRefused(f"cannot sync {host}: it shrank while it was copied; save again") from (
            error
        )


def _member(name: str, host: Path) -> tuple[tarfile.TarInfo, IO[bytes] | None] | None:
    """The tar entry for ``host`` (a regular file, or a symlink kept as a link) and its
    content (open: the caller closes it); None if it no longer exists, or is reached through
    a symlinked directory (the build context holds that link, not what it points to: in the
    image the path does not exist either). Never follows a symlink, never opens anything
    else. A small file is read whole; a big one is left open, to be copied in chunks."""
    if _through_symlink(host):
        return None
    try:
        status = os.lstat(host)
        if stat.S_ISLNK(status.st_mode):
            return _entry(name, status, tarfile.SYMTYPE, linkname=os.readlink(host)), None
        if not stat.S_ISREG(status.st_mode):
            raise SyncRefused(f"refusing to sync {host}: not a regular file or a symlink")
        # O_NOFOLLOW: if it became a symlink since lstat, fail rather than read its target.
        fd = os.open(host, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        handle = os.fdopen(fd, "rb")
        status = os.fstat(handle.fileno())
        if not stat.S_ISREG(status.st_mode):
            handle.close()
            raise SyncRefused(f"refusing to sync {host}: not a regular file or a symlink")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:
        reason = "it changed into a symlink" if error.errno == errno.ELOOP else error.strerror
        raise SyncRefused(f"cannot sync {host}: {reason}") from error
    info = _entry(name, status, tarfile.REGTYPE)
    if status.st_size >= _STREAM_FROM:
        info.size = status.st_size  # its size when opened; a file that shrinks fails
        return info, handle
    with handle:
        content = handle.read()
    info.size = len(content)  # what was read, even if the file grew or shrank meanwhile
    return info, io.BytesIO(content)


def _entry(name: str, status: os.stat_result, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = stat.S_IMODE(status.st_mode)
    info.mtime = status.st_mtime
    info.uid = info.gid = 0  # owned by root in the container, as `docker cp` does
    return info
