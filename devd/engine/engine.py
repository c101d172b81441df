"""The thin adapter over the Docker SDK (docker-py): connecting and building images (the
rest is mixed into Engine: devd.containers, devd.container_files, devd.container_logs,
devd.images, devd.resources).

Builds go through the low-level streaming API, with the builder the service's ``builder``
means on this engine (:mod:`devd.builders`). BuildKit's stream is read by
:mod:`devd.buildkit_stream`; the classic builder's, below, is a stream of JSON objects whose
``stream`` texts, joined and split into lines, read like ``docker build`` without BuildKit::

    Step 4/7 : RUN cat req.txt > /deps        <- a step starts ("Step N/M : " + instruction)
     ---> Using cache                         <- ... and was taken from the cache
     ---> Running in 3f2c0d1e5a6b             <- (or) a container runs it
    <what the command prints; stderr arrives wrapped in ANSI colour codes>
    Removing intermediate container 3f2c0d1e5a6b
     ---> f64b59fd4b3b                        <- the step's resulting image
    {"aux": {"ID": "sha256:..."}}             <- the final image id
    Successfully built f64b59fd4b3b / Successfully tagged NAME:TAG

A failure is an ``{"error": ..., "errorDetail": {"message": ..., "code": N}}`` object.

Decisions:

* A step is *cached* when the engine printed ``---> Using cache`` for it. A ``FROM`` step never
  prints that, yet does no work (it only looks the base image up), so it counts as cached;
  so does a step that printed no ``--->`` line at all (an ``ARG`` before the first ``FROM``).
  Any other step without ``Using cache`` was rebuilt, even when it printed nothing but its
  image id: an uncached ``COPY`` prints exactly that.
* Build labels are applied by the classic builder as extra ``LABEL k=v`` steps (one per label,
  sorted by key) appended to the last stage, and counted in "Step N/M". They are kept in
  ``BuildResult.steps`` with ``from_labels=True`` but left out of the rebuilt/cached counts,
  which describe the Dockerfile.
* ``StepResult.output`` holds what the step's command printed, without the engine's
  bookkeeping lines (``--->`` lines, ``Removing intermediate container``); ``on_line`` gets
  every line, bookkeeping included, with colour codes removed.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import docker
import docker.constants
import docker.errors
import requests.exceptions
import urllib3.exceptions

from devd.core import builders
from devd.core.build_result import (
    FAILURE_TAIL_LINES,
    BuildResult,
    LineCallback,
    StepResult,
    error_text,
    interruption,
)
from devd.core.builders import Builder, BuilderChoice
from devd.core.buildkit_stream import BuildKitStreamParser
from devd.core.dockerfile import StepLines
from devd.daemon.enginewatch import NOT_ANSWERING, not_answering
from devd.engine import ssh
from devd.engine.anchors import AnchorOps
from devd.engine.container_spec import (
    LABEL_PROJECT,
    LABEL_SERVICE,
    ContainerInfo,
    ContainerSpec,
    owner_labels,
)
from devd.engine.containers import timed_out
from devd.engine.context import ContextArchive
from devd.engine.exec import ExecOps
from devd.engine.files import FileOps
from devd.engine.images import ImageOps
from devd.engine.logs import LogOps
from devd.engine.resources import ResourceOps
from devd.errors import BuildFailed, EngineUnavailable, one_line

__all__ = [
    "BUILD_IDLE_TIMEOUT",
    "DEFAULT_SOCKET",
    "LABEL_PROJECT",
    "LABEL_SERVICE",
    "BuildResult",
    "BuildStreamParser",
    "ContainerInfo",
    "ContainerSpec",
    "Engine",
    "StepResult",
    "connect",
    "engine_address",
    "owner_labels",
    "unanswered_message",
    "unavailable_message",
]

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
BUILD_IDLE_TIMEOUT = 600.0
"""Seconds a build may go without the engine sending anything before devd gives up on it."""
_PROBE_TIMEOUT = 10.0
PING_TIMEOUT = 3.0
CONNECT_TIMEOUT = 10.0
"""Seconds connecting may wait for the engine to answer (a frozen one: say so, not hang)."""
"""Seconds a ping may take before the engine counts as not answering (a hung engine)."""

_STEP_RE = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_BOOKKEEPING_RE = re.compile(r"^ ---> |^Removing intermediate container ")
_USING_CACHE = " ---> Using cache"
_BUILT_RE = re.compile(r"^Successfully built ([0-9a-f]+)$")
_STEP_IMAGE_RE = re.compile(r"^ ---> ([0-9a-f]{12,64})$")
# What a connection to the engine can raise while a build streams: the engine refusing the
# request (APIError, a DockerException), the socket closing or timing out (requests and
# urllib3 errors, OSError), a truncated last JSON object (ValueError).
_TRANSPORT_ERRORS = (
    docker.errors.DockerException,
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    OSError,
    ValueError,
)

_UNREACHABLE_ERRORS = (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError)


def connect(*, build_idle_timeout: float | None = BUILD_IDLE_TIMEOUT) -> Engine:
    """Connect to the engine the environment names (DOCKER_HOST, else the default socket).

    ``build_idle_timeout``: see :class:`Engine`. Raises EngineUnavailable when no engine
    answers, within CONNECT_TIMEOUT when one accepts connections but never answers (frozen).
    """
    _probe_unix_socket(os.environ)
    started = time.monotonic()
    client = None
    try:  # short timeouts (version look-up, ping): a frozen engine would hold each 60 s
        client = _client_from_env(os.environ)
        answer = client.api.get(f"{client.api.base_url}/_ping", timeout=CONNECT_TIMEOUT)
        with answer:
            client.api._raise_for_status(answer)  # docker-py's own check: APIError
            headers = dict(answer.headers)
    except (
        docker.errors.DockerException,
        requests.exceptions.RequestException,
        ssh.SshUnreachable,
    ) as error:
        if client is not None:
            client.close()
        elapsed = time.monotonic() - started
        reason = not_answering(elapsed) if timed_out(error) else _root_reason(error)
        raise EngineUnavailable(unanswered_message(os.environ, reason)) from error
    client.api.timeout = docker.constants.DEFAULT_TIMEOUT_SECONDS  # what every request gets
    return Engine(
        client, build_idle_timeout=build_idle_timeout, recommends=builders.recommended(headers)
    )


def _client_from_env(environ: Mapping[str, str]) -> Any:
    """docker-py's client for DOCKER_HOST; for ssh:// one whose requests all share devd's
    own ssh connection (:mod:`devd.engine.ssh`), with what that needs said when missing."""
    host = environ.get("DOCKER_HOST")
    if ssh.is_ssh(host):
        assert host is not None
        return ssh.docker_client(host, timeout=CONNECT_TIMEOUT)[0]
    return docker.from_env(timeout=CONNECT_TIMEOUT)


def _probe_unix_socket(environ: Mapping[str, str], timeout: float = _PROBE_TIMEOUT) -> None:
    """Fail early, with the OS's reason, when the engine's unix socket does not accept.

    docker-py leaves the socket of a failed unix connection unclosed (a ResourceWarning at
    some later garbage collection); probing first keeps that from happening.
    """
    host = environ.get("DOCKER_HOST") or DEFAULT_SOCKET
    if not host.startswith("unix://"):
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(timeout)
        try:
            probe.connect(host.removeprefix("unix://"))
        except OSError as error:
            raise EngineUnavailable(unavailable_message(environ, error)) from error


Listener = tuple[str, str | tuple[str, int]]
"""Where the engine listens: ("unix", path) or ("tcp", (host, port))."""


def _listener(environ: Mapping[str, str], base_url: str) -> Listener | None:
    """The engine's unix socket (DOCKER_HOST or the default) or TCP address; None for
    others (ssh://)."""
    if base_url.startswith("http+docker://"):
        host = environ.get("DOCKER_HOST") or DEFAULT_SOCKET
        return ("unix", host.removeprefix("unix://")) if host.startswith("unix://") else None
    parsed = urllib.parse.urlsplit(base_url)
    if parsed.scheme in ("http", "https") and parsed.hostname:
        default = 443 if parsed.scheme == "https" else 80
        return ("tcp", (parsed.hostname, parsed.port or default))
    return None


def _connect(address: Listener, timeout: float) -> socket.socket:
    """A new connection to the engine's listener (OSError: the OS's reason it failed)."""
    kind, where = address
    if kind == "tcp":
        assert isinstance(where, tuple)
        return socket.create_connection(where, timeout=timeout)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(timeout)
    try:
        conn.connect(str(where))
    except OSError:
        conn.close()
        raise
    return conn


def _fresh_ping(address: Listener, timeout: float) -> str | None:
    """``GET /_ping`` on a new connection (plain HTTP): None when the engine answers 200,
    else why not; connecting and answering each get ``timeout`` seconds."""
    try:
        conn = _connect(address, timeout)
    except TimeoutError:
        return f"connecting timed out after {timeout:g} s"
    except OSError as error:
        return _root_reason(error)
    started = time.monotonic()
    try:
        with conn:
            conn.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            reply = conn.recv(64)
    except TimeoutError:  # it accepted (the kernel does, for a frozen dockerd): no answer
        return not_answering(time.monotonic() - started)
    except OSError as error:
        return _root_reason(error)
    status = reply[9:12].decode(errors="replace")
    if reply.startswith(b"HTTP/1.") and status == "200":
        return None
    return f"the engine answered {status!r}" if reply else "the engine closed the connection"


def engine_address(environ: Mapping[str, str]) -> str:
    """Where devd talks to the engine, as messages name it."""
    host = environ.get("DOCKER_HOST")
    return f"{host} (from DOCKER_HOST)" if host else DEFAULT_SOCKET


def unavailable_message(environ: Mapping[str, str], error: BaseException) -> str:
    """One line: where devd looked, why it failed, and what to do."""
    return unanswered_message(environ, _root_reason(error))


def unanswered_message(environ: Mapping[str, str], reason: str) -> str:
    """One line: where devd looked, why nothing answered (``reason``), and what to do."""
    host = environ.get("DOCKER_HOST")
    where = engine_address(environ)
    remedy = "or fix DOCKER_HOST" if host else "or point DOCKER_HOST at a running engine"
    if reason.startswith(NOT_ANSWERING):  # frozen or hung: it runs, but does not work
        return f"the engine at {where} {reason}; restart dockerd {remedy}"
    return (
        f"no Docker engine answers at {where}: {reason}; "
        f"start dockerd (in devd's repository: scripts/setup-engine) {remedy}"
    )


def _root_reason(error: BaseException) -> str:
    """The innermost cause, the part that says what went wrong ("Connection refused")."""
    root = error
    while (inner := root.__cause__ or root.__context__) is not None:
        root = inner
    if isinstance(root, OSError) and root.strerror:
        return root.strerror
    return one_line(str(root))


class Engine(ResourceOps, FileOps, ExecOps, LogOps, ImageOps, AnchorOps):
    """A connected engine. ``client`` is the docker-py client, for what this adapter lacks.
    The container operations come from :class:`devd.containers.ContainerOps`, syncing files
    from :class:`devd.container_files.FileOps`, output from :class:`devd.container_logs.LogOps`,
    images from :class:`devd.images.ImageOps`, networks and volumes from
    :class:`devd.resources.ResourceOps`, the services' anchors from
    :class:`devd.anchors.AnchorOps`.

    ``build_idle_timeout`` (seconds, None: wait forever) bounds how long a build may go
    without any output from the engine: a stuck engine then fails the build instead of
    hanging it. A step that runs silently for longer than that fails too.
    """

    def __init__(
        self,
        client: Any,
        *,
        build_idle_timeout: float | None = BUILD_IDLE_TIMEOUT,
        recommends: Builder = "classic",
    ):
        self.client = client
        self.build_idle_timeout = build_idle_timeout
        self.recommends = recommends
        """The builder the engine recommends (its ``/_ping``): what ``builder = "auto"`` is."""
        self._major: int | None = None

    def builder(self, choice: BuilderChoice) -> Builder:
        """The builder ``choice`` (a service's ``builder``) means on this engine."""
        return builders.resolve(choice, self.recommends)

    def major_version(self) -> int | None:
        """The engine's major version (20 for 20.10.24), asked once; None if it says none."""
        if self._major is None:
            with self._engine_call("reading the engine's version"):
                version = str(self.client.api.version().get("Version", ""))
            digits = version.split(".", 1)[0]
            self._major = int(digits) if digits.isdigit() else 0
        return self._major or None

    def close(self) -> None:
        self.client.close()

    def _unavailable(self, error: BaseException) -> EngineUnavailable:
        return EngineUnavailable(unavailable_message(os.environ, error))

    def unreachable(self) -> str | None:
        """Why the engine does not answer a ping right now; None when it does. The ping goes
        on a connection of its own, never a kept-alive one: dockerd stopping closes its
        listener first and stops its containers after, while the connections it has go on
        answering, so a pooled ping then says "up" for an engine going away (over TCP, a log
        stream ending so read as the app exiting). An engine that accepts the connection but
        sends nothing back within PING_TIMEOUT (stopped by SIGSTOP, hung) is
        :func:`devd.enginewatch.not_answering`."""
        link = ssh.link_of(self.client)
        if link is not None:
            started = time.monotonic()
            try:
                return link.fresh_ping(PING_TIMEOUT)
            except TimeoutError:
                return not_answering(time.monotonic() - started)
        base_url = str(self.client.api.base_url)
        address = _listener(os.environ, base_url)
        if address is not None and not base_url.startswith("https://"):
            return _fresh_ping(address, PING_TIMEOUT)
        if address is not None:  # TLS: a new connection shows a closed listener; then ping
            try:
                _connect(address, PING_TIMEOUT).close()
            except OSError as error:
                return _root_reason(error)
        return self._pooled_ping()

    def _pooled_ping(self) -> str | None:
        """A ping through docker-py (ssh://, and TLS after the listener was found open)."""
        started = time.monotonic()
        try:
            response = self.client.api.get(
                f"{self.client.api.base_url}/_ping", timeout=PING_TIMEOUT
            )
        except _UNREACHABLE_ERRORS as error:
            if timed_out(error):
                return not_answering(time.monotonic() - started)
            return _root_reason(error)
        with response:
            return None if response.ok else f"the engine answered {response.status_code}"

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def build(
        self,
        context: ContextArchive,
        *,
        tag: str,
        labels: Mapping[str, str],
        build_args: Mapping[str, str],
        target: str | None,
        no_cache: bool,
        builder: Builder = "classic",
        network: str | None = None,
        lines: StepLines | None = None,
        on_line: LineCallback | None = None,
        on_labels: Callable[[], None] | None = None,
    ) -> BuildResult:
        """Build ``context`` into an image tagged ``tag`` with ``builder``; raises BuildFailed
        on any failure. ``lines`` names each step's Dockerfile line in the result.

        ``on_line`` is called with each output line as it arrives. ``on_labels`` is called
        once, when every step of the Dockerfile has succeeded, at least one was rebuilt (the
        image will be a new one) and what is left only writes the image: the classic
        builder's build-label steps (about 70 ms a label), BuildKit's export. A caller can
        start retiring the old container meanwhile. Both are called from the thread reading
        the build's output and must return at once. ``network`` is the network mode of the
        build's RUN steps (``host``, ``none``...; None: the builder's default).
        """
        if builder == "buildkit":
            return self._build_with_buildkit(
                context,
                BuildKitStreamParser(lines, on_line=on_line, on_labels=on_labels),
                _buildkit_params(
                    tag, labels, build_args, target, no_cache, network, context.dockerfile
                ),
            )
        parser = BuildStreamParser(
            label_count=len(labels), lines=lines, on_line=on_line, on_labels=on_labels
        )
        context.fileobj.seek(0)
        try:
            chunks = self.client.api.build(
                fileobj=context.fileobj,
                custom_context=True,
                dockerfile=context.dockerfile,
                tag=tag,
                labels=dict(labels),
                buildargs=dict(build_args),
                target=target,
                nocache=no_cache,
                network_mode=network,
                decode=True,
                rm=True,
                forcerm=True,
                timeout=self.build_idle_timeout,
            )
            parser.feed_all(chunks)
        except _TRANSPORT_ERRORS as error:
            refused = isinstance(error, docker.errors.APIError)
            raise parser.interrupted(error, None if refused else self.unreachable()) from error
        return parser.finish()

    def _build_with_buildkit(
        self, context: ContextArchive, parser: BuildKitStreamParser, params: dict[str, str]
    ) -> BuildResult:
        """``POST /build?version=2`` with the context as the tar body (no session: nothing
        the build needs is asked of devd, and the engine applies no ignore file to a tar
        body, so devd's own context, already filtered, is what the build sees)."""
        api = self.client.api
        context.fileobj.seek(0)
        try:  # docker-py's build() has no "version": its request, with the parameter added
            response = api._post(
                api._url("/build"),
                params=params,
                data=context.fileobj,
                headers={"Content-Type": "application/x-tar"},
                stream=True,
                timeout=self.build_idle_timeout,
            )
            api._raise_for_status(response)
            parser.feed_all(api._stream_helper(response, decode=True))
        except _TRANSPORT_ERRORS as error:
            refused = isinstance(error, docker.errors.APIError)
            raise parser.interrupted(error, None if refused else self.unreachable()) from error
        return parser.finish()


def _buildkit_params(
    tag: str,
    labels: Mapping[str, str],
    build_args: Mapping[str, str],
    target: str | None,
    no_cache: bool,
    network: str | None,
    dockerfile: str,
) -> dict[str, str]:
    """The query of a BuildKit build, as the docker CLI sends it."""
    params = {
        "version": "2",
        "t": tag,
        "dockerfile": dockerfile,
        "labels": json.dumps(dict(labels)),
        "buildargs": json.dumps(dict(build_args)),
        "rm": "1",
        "forcerm": "1",
    }
    if target:
        params["target"] = target
    if no_cache:
        params["nocache"] = "1"
    if network:
        params["networkmode"] = network
    return params


@dataclass
class _StepDraft:
    number: int
    total: int
    instruction: str
    from_labels: bool
    cached: bool = False
    made_image: bool = False  # the engine printed a " ---> " line for it
    output: list[str] = field(default_factory=list)

    @property
    def is_from(self) -> bool:
        return [word.upper() for word in self.instruction.split(maxsplit=1)[:1]] == ["FROM"]

    def freeze(self, lines: StepLines) -> StepResult:
        # FROM only looks its base up; an ARG before the first FROM prints nothing at all.
        keyword = self.instruction.split(maxsplit=1)[0].upper()
        cached = self.cached or keyword == "FROM" or not self.made_image
        return StepResult(
            number=self.number,
            total=self.total,
            instruction=self.instruction,
            cached=cached,
            output=tuple(self.output),
            from_labels=self.from_labels,
            line=None if self.from_labels else lines.of_classic(self.number),
        )


class BuildStreamParser:
    """Turns the classic builder's decoded JSON stream into a BuildResult (or BuildFailed).

    Feed it every object in order, then call :meth:`finish`. ``label_count`` is the number of
    build labels given, i.e. of ``LABEL`` steps the engine appends.
    """

    def __init__(
        self,
        *,
        label_count: int = 0,
        lines: StepLines | None = None,
        on_line: LineCallback | None = None,
        on_labels: Callable[[], None] | None = None,
    ) -> None:
        self._label_count = label_count
        self._lines = lines or StepLines()
        self._on_line = on_line
        self._on_labels = on_labels
        self._pending = ""
        self._steps: list[StepResult] = []
        self._current: _StepDraft | None = None
        self._messages: list[str] = []
        self._image_id: str | None = None
        self._built_id: str | None = None
        self._error: Mapping[str, Any] | None = None
        self._failed_step: _StepDraft | None = None
        self._created: list[str] = []  # images of the steps this build made (not cached)

    def feed_all(self, chunks: Iterable[Mapping[str, Any]]) -> None:
        for chunk in chunks:
            self.feed(chunk)

    def feed(self, chunk: Mapping[str, Any]) -> None:
        if "error" in chunk or "errorDetail" in chunk:
            self._fail(chunk)
        elif "stream" in chunk:
            self._text(str(chunk["stream"]))
        elif "aux" in chunk:
            self._aux(chunk["aux"])
        elif "status" in chunk:
            self._text(_status_line(chunk))

    def finish(self) -> BuildResult:
        """The result once the stream has ended; raises BuildFailed if it was not a success."""
        self._flush()
        if self._error is not None:
            raise self._build_failed(error_text(self._error), self._error_status())
        image_id = self._image_id or self._built_id
        if image_id is None:
            raise self._build_failed("the engine ended the build without an image", None)
        self._close_step()
        return BuildResult(image_id, tuple(self._steps), tuple(self._messages))

    def interrupted(self, error: BaseException, gone: str | None = None) -> BuildFailed:
        """The BuildFailed for a connection that broke (or a request refused) mid-build;
        ``gone`` says why the engine no longer answers, if it does not."""
        self._flush()
        started = self._current is not None or bool(self._steps)
        return self._build_failed(interruption(started, error, gone), None)

    def _text(self, text: str) -> None:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._line(line)

    def _flush(self) -> None:
        if self._pending:
            line, self._pending = self._pending, ""
            self._line(line)

    def _line(self, raw: str) -> None:
        line = _ANSI_RE.sub("", raw).rstrip("\r")
        if self._on_line is not None:
            self._on_line(line)
        step = _STEP_RE.match(line)
        if step is not None:
            self._start_step(int(step[1]), int(step[2]), step[3])
            return
        built = _BUILT_RE.match(line)
        if built is not None:
            self._built_id = built[1]
            self._close_step()
        if self._current is None:
            self._messages.append(line)
        elif line.startswith(_USING_CACHE):
            self._current.cached = True
        elif line.startswith(" ---> "):
            self._current.made_image = True
            made = _STEP_IMAGE_RE.match(line)
            if made is not None and not self._current.cached and not self._current.is_from:
                self._created.append(made[1])  # FROM's line names the base image
        elif _BOOKKEEPING_RE.match(line) is None:
            self._current.output.append(line)

    def _start_step(self, number: int, total: int, instruction: str) -> None:
        self._close_step()
        from_labels = number > total - self._label_count
        self._current = _StepDraft(number, total, instruction, from_labels)
        if from_labels and self._on_labels is not None and self._error is None:
            on_labels, self._on_labels = self._on_labels, None
            if any(not step.cached for step in self._steps if not step.from_labels):
                on_labels()

    def _close_step(self) -> None:
        if self._current is not None:
            self._steps.append(self._current.freeze(self._lines))
            self._current = None

    def _aux(self, aux: Any) -> None:
        if isinstance(aux, Mapping) and "ID" in aux:
            self._image_id = str(aux["ID"])
            self._close_step()

    def _fail(self, chunk: Mapping[str, Any]) -> None:
        self._flush()
        if self._error is None:
            self._error = chunk
            self._failed_step = self._current

    def _error_status(self) -> int | None:
        detail = self._error.get("errorDetail") if self._error is not None else None
        code = detail.get("code") if isinstance(detail, Mapping) else None
        return code if isinstance(code, int) else None

    def _build_failed(self, reason: str, status: int | None) -> BuildFailed:
        step = self._failed_step or self._current
        if step is None:
            return BuildFailed(
                f"build failed: {reason}",
                output=self._messages[-FAILURE_TAIL_LINES:],
                created_images=self._created,
            )
        return BuildFailed(
            f"build failed at step {step.number}/{step.total} ({step.instruction}): {reason}",
            step=step.instruction,
            step_number=step.number,
            step_total=step.total,
            output=step.output[-FAILURE_TAIL_LINES:],
            command_status=status,
            created_images=self._created,
        )


def _status_line(chunk: Mapping[str, Any]) -> str:
    """A pull progress object as one line (``"<id>: Downloading"``)."""
    ident = chunk.get("id")
    status = str(chunk["status"])
    return f"{ident}: {status}\n" if ident else f"{status}\n"
