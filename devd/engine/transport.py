"""The connection to the engine: finding and opening it (DOCKER_HOST, else the default
socket; a frozen engine is said to be one within CONNECT_TIMEOUT), pinging it on a connection
of its own, the one-line messages for an engine that does not answer, and :class:`Transport`,
what every client of the engine shares: the docker-py client, error translation and the
ownership checks.

The hard rule: devd never touches a container or image it did not create. Every container devd
creates carries :func:`devd.engine.container_spec.owner_labels`; every operation that changes a
container first checks (:meth:`Transport.owned`) that it carries ``devd.project``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any

import docker
import docker.constants
import docker.errors
import requests.exceptions
import urllib3.exceptions

from devd.daemon.enginewatch import NOT_ANSWERING, not_answering
from devd.engine import ssh
from devd.engine.container_spec import LABEL_PROJECT, labels_of
from devd.errors import EngineError, EngineUnavailable, ForeignContainer, one_line

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
_PROBE_TIMEOUT = 10.0
PING_TIMEOUT = 3.0
"""Seconds a ping may take before the engine counts as not answering (a hung engine)."""
CONNECT_TIMEOUT = 10.0
"""Seconds connecting may wait for the engine to answer (a frozen one: say so, not hang)."""

# Failing to reach the engine at all (APIError is a requests HTTPError too: catch it first).
CONNECTION_ERRORS = (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError)


def open_client(environ: Mapping[str, str]) -> tuple[Any, dict[str, str]]:
    """A docker-py client for the engine ``environ`` names (DOCKER_HOST, else the default
    socket), and the headers of its answer to a ping. Raises EngineUnavailable when no engine
    answers, within CONNECT_TIMEOUT when one accepts connections but never answers (frozen).
    """
    _probe_unix_socket(environ)
    started = time.monotonic()
    client = None
    try:  # short timeouts (version look-up, ping): a frozen engine would hold each 60 s
        client = _client_for(environ)
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
        raise EngineUnavailable(unanswered_message(environ, reason)) from error
    client.api.timeout = docker.constants.DEFAULT_TIMEOUT_SECONDS  # what every request gets
    return client, headers


def _client_for(environ: Mapping[str, str]) -> Any:
    """docker-py's client for DOCKER_HOST; for ssh:// one whose requests all share devd's own
    ssh connection (:mod:`devd.engine.ssh`), with what that needs said when missing."""
    host = environ.get("DOCKER_HOST")
    if host is not None and ssh.is_ssh(host):
        return ssh.docker_client(host, timeout=CONNECT_TIMEOUT)[0]
    return docker.from_env(timeout=CONNECT_TIMEOUT, environment=dict(environ))


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
    """The innermost cause, the part that says what went wrong ("Connection refused"); an
    ssh failure says it already, in its own words ("ssh to HOST failed: ...")."""
    root = error
    while not isinstance(root, ssh.SshUnreachable) and (
        inner := root.__cause__ or root.__context__
    ):
        root = inner
    if isinstance(root, ssh.SshUnreachable):
        return one_line(str(root))
    if isinstance(root, OSError) and root.strerror:
        return root.strerror
    return one_line(str(root))


class Transport:
    """The connection to the engine every client of :class:`devd.engine.engine.Engine` shares:
    the docker-py client, the translation of its errors into devd's, and the ownership checks
    (which containers are devd's, remembered once seen). Its one piece of state, the set of
    container ids known to be devd's, only grows by ids checked or made by devd and shrinks as
    they are removed (set operations are atomic: any client's thread may do either).
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self._verified_owned: set[str] = set()
        self._major: int | None = None

    @property
    def api(self) -> Any:
        """docker-py's low-level client."""
        return self.client.api

    def close(self) -> None:
        self.client.close()

    def unavailable(self, error: BaseException) -> EngineUnavailable:
        """The EngineUnavailable for a connection error."""
        return EngineUnavailable(unavailable_message(os.environ, error))

    @contextlib.contextmanager
    def call(self, what: str) -> Iterator[None]:
        """Translate docker-py/requests errors escaping the block; ``what`` starts the message
        of a refused request ("stopping container abc")."""
        try:
            yield
        except docker.errors.APIError as error:
            raise EngineError(f"{what}: {explanation(error)}") from error
        except CONNECTION_ERRORS as error:
            raise self.unavailable(error) from error
        except docker.errors.DockerException as error:
            raise EngineError(f"{what}: {one_line(str(error))}") from error

    def inspect(self, container_id: str) -> dict[str, Any] | None:
        """The engine's inspect of a container (by id or name); None when there is none."""
        try:
            attrs: dict[str, Any] = self.client.api.inspect_container(container_id)
        except docker.errors.NotFound:
            return None
        return attrs

    def name_holder(self, name: str) -> dict[str, Any] | None:
        # Inspecting by name also matches an id prefix: keep only an exact name.
        attrs = self.inspect(name)
        return attrs if attrs is not None and attrs.get("Name") == f"/{name}" else None

    def owned(self, container_id: str, action: str) -> bool:
        """Whether the container exists (False: gone); ForeignContainer if it lacks the
        ``devd.project`` label. A container's labels never change, so a container found to
        be devd's (or made by devd) is not looked at again: the sync and restart paths then
        go straight to their one request, which reports a container gone since by itself."""
        if container_id in self._verified_owned:
            return True
        attrs = self.inspect(container_id)
        if attrs is None:
            return False
        if LABEL_PROJECT not in labels_of(attrs):
            raise ForeignContainer(
                f"refusing to {action} container {describe(attrs)}: devd did not create it "
                f"(it has no {LABEL_PROJECT} label)"
            )
        self._verified_owned.add(str(attrs["Id"]))  # never a name: names can be taken over
        return True

    def remembers(self, container_id: str) -> bool:
        """Whether the container is remembered as devd's (checked or made, not removed since)."""
        return container_id in self._verified_owned

    def made(self, container_id: str) -> None:
        """Remember a container devd just created (with its labels) as devd's."""
        self._verified_owned.add(container_id)

    def force_remove(self, container_id: str) -> None:
        try:
            self.client.api.remove_container(container_id, force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as error:
            if "already in progress" not in engine_said(error):
                raise
        self._verified_owned.discard(container_id)  # gone: its id need not be remembered

    def discard(self, container_id: str) -> None:
        """Remove a half-made container, best effort: the caller is raising already."""
        with contextlib.suppress(docker.errors.DockerException, *CONNECTION_ERRORS):
            self.force_remove(container_id)

    def major_version(self) -> int | None:
        """The engine's major version (20 for 20.10.24), asked once; None if it says none."""
        if self._major is None:
            with self.call("reading the engine's version"):
                version = str(self.client.api.version().get("Version", ""))
            digits = version.split(".", 1)[0]
            self._major = int(digits) if digits.isdigit() else 0
        return self._major or None

    def new_connection(self, timeout: float = CONNECT_TIMEOUT) -> socket.socket:
        """A plain connection of its own to the engine's listener, for a request that takes
        the connection over (a BuildKit session). OSError when there is none: an ssh:// or
        TLS engine (devd speaks plain HTTP on it only through docker-py)."""
        base_url = str(self.client.api.base_url)
        address = _listener(os.environ, base_url)
        if address is None or base_url.startswith("https://"):
            raise OSError(f"devd opens no connection of its own to {base_url} (TLS or ssh)")
        return _connect(address, timeout)

    def unreachable(self) -> str | None:
        """Why the engine does not answer a ping right now; None when it does. The ping goes
        on a connection of its own, never a kept-alive one: dockerd stopping closes its
        listener first and stops its containers after, while the connections it has go on
        answering, so a pooled ping then says "up" for an engine going away (over TCP, a log
        stream ending so read as the app exiting). An engine that accepts the connection but
        sends nothing back within PING_TIMEOUT (stopped by SIGSTOP, hung) is
        :func:`devd.daemon.enginewatch.not_answering`. Over ssh, the new connection is a
        session channel of its own (:meth:`devd.engine.ssh.SshLink.fresh_ping`)."""
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
        """A ping through docker-py (TLS, after the listener was found open)."""
        started = time.monotonic()
        try:
            response = self.client.api.get(
                f"{self.client.api.base_url}/_ping", timeout=PING_TIMEOUT
            )
        except CONNECTION_ERRORS as error:
            if timed_out(error):
                return not_answering(time.monotonic() - started)
            return _root_reason(error)
        with response:
            return None if response.ok else f"the engine answered {response.status_code}"


# --- helpers -----------------------------------------------------------------------------


def short_id(container_id: str) -> str:
    return container_id[:12]


def describe(attrs: Mapping[str, Any]) -> str:
    """A container as messages name it: ``'name' (short id)``."""
    return f"{str(attrs.get('Name', '')).lstrip('/')!r} ({short_id(attrs['Id'])})"


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
