"""An engine behind ssh (``DOCKER_HOST=ssh://[user@]host[:port]``): one SSH connection devd
makes with paramiko (the optional extra ``devd[ssh]``) and owns, carrying every API request
and, for :mod:`devd.engine.port_forward`, the published ports forwarded to this machine.

Each API connection is an SSH *session* channel running ``docker system dial-stdio`` on the
remote host (the docker CLI there must be installed), as docker-py's own ssh transport does.
A stock sshd allows ``MaxSessions 10`` sessions on one connection and refuses the 11th
("ChannelException(2, 'Connect failed')"). What devd opens at once over the engine's API:

* one channel per request in flight: each service's worker, the engine watch, the sweeper,
  a CLI command's requests;
* one per followed log stream (a service each) and one for the event stream (the anchors'
  ``die`` events), held as long as ``devd up`` runs;
* one per build and per exec, held while its output streams;
* one, kept apart, for :meth:`SshLink.fresh_ping` (is the engine still there).

docker-py's own adapter keeps a pool per request URL and, once a pool's connections are all
busy, opens more without bound: that is what sshd refused. Here one pool holds them all and
blocks at :data:`API_CHANNELS` (9): a request past that waits for one to come back. Long-lived
streams (followed logs, events) may hold at most :data:`STREAM_CHANNELS` (6) of them, so
requests always have 3; a stream past that waits, said in one line, for one to end: with more
than 5 services, the logs of the last ones start when a container of the others stops.
:data:`API_CHANNELS` plus the fresh ping's channel is 10. sshd frees a session only once the
remote command has exited, a moment after devd closed its channel, so a session refused
(reason 2) is asked for again for up to :data:`REFUSED_RETRY_SECONDS` before it counts as an
error. Forwarded ports are ``direct-tcpip`` channels, which MaxSessions does not count.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import docker
import docker.transport.basehttpadapter
import structlog
import urllib3
import urllib3.connection
import urllib3.connectionpool

from devd.errors import EngineUnavailable

_log = structlog.get_logger("devd")

SSH_EXTRA_HINT = "ssh:// engines need paramiko: pip install 'devd[ssh]'"
SESSION_LIMIT = 10
"""A stock sshd's MaxSessions: session channels one connection may have open."""
API_CHANNELS = SESSION_LIMIT - 1
"""Channels the API requests may hold at once (one is kept for :meth:`SshLink.fresh_ping`)."""
STREAM_CHANNELS = 6
"""Of those, how many long-lived streams (followed logs, events) may hold."""
REFUSED_RETRY_SECONDS = 10.0
CONNECT_TIMEOUT = 10.0
POOL_WAIT_SECONDS = 120.0
"""How long a request waits for a free channel before failing (every one is in use)."""
DIAL_STDIO = "docker system dial-stdio"
API_BASE_URL = "http+docker://ssh"

_LONG_LIVED = (
    re.compile(r"^/(v[\d.]+/)?containers/[^/]+/logs\?(.*&)?follow=(1|true)\b"),
    re.compile(r"^/(v[\d.]+/)?events(\?|$)(?!.*\buntil=)"),
)


def paramiko_module() -> Any:
    """paramiko, or EngineUnavailable naming the extra to install. Its own log is silenced:
    it would print a raw line to stderr for each forwarded connection refused ("Secsh
    channel 2 open FAILED") and each dropped connection; devd says what matters itself."""
    try:
        import paramiko
    except ImportError as error:
        raise EngineUnavailable(SSH_EXTRA_HINT) from error
    quiet = logging.getLogger("paramiko")
    quiet.propagate = False
    if not quiet.handlers:
        quiet.addHandler(logging.NullHandler())
    return paramiko


@dataclass(frozen=True)
class SshTarget:
    """Where to connect, from the ssh:// URL and ``~/.ssh/config`` (as ``ssh`` reads it)."""

    url: str
    hostname: str
    port: int | None
    username: str | None
    key_filename: list[str] | None
    proxy_command: str | None

    @property
    def host(self) -> str:
        """The host as messages name it (the URL's)."""
        return urllib.parse.urlsplit(self.url).hostname or self.hostname


def target(url: str) -> SshTarget:
    """``url``'s user, host and port, completed from ``~/.ssh/config`` for that host."""
    paramiko = paramiko_module()
    parsed = urllib.parse.urlsplit(url)
    if not parsed.hostname:
        raise EngineUnavailable(f"DOCKER_HOST={url} names no host (ssh://[user@]host[:port])")
    found: dict[str, Any] = {}
    config_file = os.path.expanduser("~/.ssh/config")
    if os.path.exists(config_file):
        found = dict(paramiko.SSHConfig.from_path(config_file).lookup(parsed.hostname))
    port = parsed.port or (int(found["port"]) if "port" in found else None)
    return SshTarget(
        url=url,
        hostname=str(found.get("hostname", parsed.hostname)),
        port=port,
        username=parsed.username or found.get("user"),
        key_filename=found.get("identityfile"),
        proxy_command=found.get("proxycommand"),
    )


class SshUnreachable(ConnectionError):
    """The engine's host cannot be reached over ssh (refused, timed out, connection lost):
    an outage, raised as an OSError so that it travels through urllib3 and requests as a
    refused TCP connection does. The message is the reason alone."""


class SshLink:
    """The one SSH connection to the engine's host, made again if it drops.

    :meth:`session` opens the API's channels (bounded by the pool, see the module), and
    :meth:`forward` the port forwards' ``direct-tcpip`` channels. ``sessions_opened`` and
    ``peak_sessions`` count what was asked of sshd, for the tests and ``-v``.
    """

    def __init__(self, where: SshTarget, *, timeout: float = CONNECT_TIMEOUT) -> None:
        self.target = where
        self.timeout = timeout
        self._paramiko = paramiko_module()
        self._lock = threading.Lock()  # guards the client and the counters below
        self._client: Any = None
        self._open: set[Any] = set()  # session channels not closed yet
        self.sessions_opened = 0
        self.peak_sessions = 0
        self._ping_lock = threading.Lock()  # the fresh ping's own channel: one at a time
        self.transport()

    def transport(self) -> Any:
        """The connection's paramiko Transport, connecting (again) if it is not active."""
        with self._lock:
            if self._client is not None and self._client.get_transport() is not None:
                if self._client.get_transport().is_active():
                    return self._client.get_transport()
                self._client.close()
            self._client = self._connect()
            return self._client.get_transport()

    def _connect(self) -> Any:
        paramiko, where = self._paramiko, self.target
        client = paramiko.SSHClient()
        client.load_system_host_keys()
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        sock = paramiko.ProxyCommand(where.proxy_command) if where.proxy_command else None
        try:
            client.connect(
                where.hostname,
                port=where.port or 22,
                username=where.username,
                key_filename=where.key_filename,
                timeout=self.timeout,
                banner_timeout=self.timeout,
                auth_timeout=self.timeout,
                sock=sock,
            )
        except (paramiko.BadHostKeyException, paramiko.AuthenticationException) as error:
            client.close()
            raise EngineUnavailable(self._refusal(error)) from error
        except paramiko.SSHException as error:
            client.close()
            if "known_hosts" in str(error):
                raise EngineUnavailable(self._refusal(error)) from error
            raise SshUnreachable(f"ssh to {where.host} failed: {error}") from error
        except OSError as error:
            client.close()
            reason = error.strerror or str(error) or type(error).__name__
            raise SshUnreachable(f"ssh to {where.host} failed: {reason}") from error
        client.get_transport().set_keepalive(15)
        return client

    def _refusal(self, error: BaseException) -> str:
        """One line for a host key or a login sshd refused: what to fix, not an outage."""
        where, paramiko = self.target, self._paramiko
        if isinstance(error, paramiko.AuthenticationException):
            reason = (
                f"ssh to {where.host} as {where.username or 'you'} was refused ({error}); "
                "check the key ~/.ssh/config names for it, or ssh-add it"
            )
        elif isinstance(error, paramiko.BadHostKeyException):
            reason = (
                f"the host key of {where.host} differs from the one in ~/.ssh/known_hosts; "
                "check it with `ssh` before you trust it"
            )
        else:
            reason = (
                f"the host key of {where.host} is not in ~/.ssh/known_hosts; "
                f"run `ssh {where.host}` once to check and accept it"
            )
        return f"no Docker engine answers at {where.url} (from DOCKER_HOST): {reason}"

    def session(self, command: str = DIAL_STDIO) -> Any:
        """A new session channel running ``command``; a refused one is asked for again
        (sshd frees a closed session a moment late) for up to REFUSED_RETRY_SECONDS."""
        deadline = time.monotonic() + REFUSED_RETRY_SECONDS
        delay = 0.02
        while True:
            try:
                channel = self.transport().open_session(timeout=self.timeout)
                break
            except self._paramiko.ChannelException as error:
                if error.code != 2 or time.monotonic() + delay > deadline:
                    raise SshUnreachable(
                        f"sshd on {self.target.host} refused a session channel "
                        f"({error}); is its MaxSessions below {SESSION_LIMIT}?"
                    ) from error
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
            except self._paramiko.SSHException as error:
                raise SshUnreachable(f"ssh to {self.target.host}: {error}") from error
        with self._lock:
            self._open = {open_ for open_ in self._open if not open_.closed}
            self._open.add(channel)
            self.sessions_opened += 1
            self.peak_sessions = max(self.peak_sessions, len(self._open))
        channel.settimeout(self.timeout)
        channel.exec_command(command)
        return channel

    def open_sessions(self) -> int:
        """Session channels open now (from this side)."""
        with self._lock:
            return sum(1 for channel in self._open if not channel.closed)

    def forward(self, host: str, port: int, origin: tuple[str, int]) -> Any:
        """A ``direct-tcpip`` channel to ``host``:``port`` as the engine's host sees it, as
        ``ssh -L`` opens for each connection it accepts (``origin``: the peer's address)."""
        return self.transport().open_channel(
            "direct-tcpip", (host, port), origin, timeout=self.timeout
        )

    def fresh_ping(self, timeout: float) -> str | None:
        """``GET /_ping`` on a new channel of its own (never a kept-alive one, which answers
        while dockerd stops): None when the engine answers 200, else why not. Raises
        TimeoutError when nothing answers within ``timeout`` (a frozen engine)."""
        with self._ping_lock:
            try:
                channel = self.session()
            except SshUnreachable as error:
                return str(error)
            with contextlib.closing(channel):
                channel.settimeout(timeout)
                try:
                    channel.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
                    reply = channel.recv(64)
                except OSError as error:
                    if isinstance(error, TimeoutError):
                        raise
                    return str(error) or type(error).__name__
        if reply.startswith(b"HTTP/1.") and reply[9:12] == b"200":
            return None
        if not reply:  # dial-stdio ended: the engine's socket refused it
            return "the engine closed the connection (docker system dial-stdio on the host)"
        return f"the engine answered {reply[9:12].decode(errors='replace')!r}"

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


class _ChannelSocket:
    """A session channel as http.client's socket. Its file (``makefile``) also offers
    ``raw.sock``, the path docker-py's CancellableStream.close takes to end a stream from
    another thread: for a bare paramiko channel it refuses ("Cancellable streams not
    supported for the SSH protocol"), which left devd's log and event streams unclosable.
    Closing the channel wakes the thread reading it, which then sees the stream end."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel

    def makefile(self, mode: str) -> Any:
        file = self.channel.makefile(mode)
        file.raw = _RawEnd(self.channel)
        return file

    def __getattr__(self, name: str) -> Any:
        return getattr(self.channel, name)


@dataclass(frozen=True)
class _RawEnd:
    sock: Any


class _ChannelConnection(urllib3.connection.HTTPConnection):
    """An HTTP connection whose socket is a session channel running dial-stdio."""

    def __init__(self, link: SshLink, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.link = link
        self.stream_permit: threading.BoundedSemaphore | None = None

    def connect(self) -> None:
        self.sock = _ChannelSocket(self.link.session())

    def close(self) -> None:
        super().close()
        if self.stream_permit is not None:
            self.stream_permit.release()
            self.stream_permit = None


class _ChannelPool(urllib3.connectionpool.HTTPConnectionPool):
    """The one pool of API channels: at most API_CHANNELS, of which at most STREAM_CHANNELS
    in long-lived streams; past that a request waits (see the module)."""

    scheme = "ssh"

    def __init__(self, link: SshLink, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout, maxsize=API_CHANNELS, block=True)
        self.link = link
        self.streams = threading.BoundedSemaphore(STREAM_CHANNELS)
        self._permit = threading.local()

    def _new_conn(self) -> _ChannelConnection:
        return _ChannelConnection(self.link, CONNECT_TIMEOUT)

    def urlopen(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if not any(pattern.match(url) for pattern in _LONG_LIVED):
            return super().urlopen(method, url, *args, **kwargs)
        if not self.streams.acquire(blocking=False):  # wait for a stream to end, saying so
            _log.warning(
                "an ssh channel for a stream waits for another stream to end",
                streams=STREAM_CHANNELS,
                request=url.split("?", 1)[0],
                why=f"devd keeps {STREAM_CHANNELS} of sshd's MaxSessions {SESSION_LIMIT} "
                "for followed logs and events, so requests always get the rest",
            )
            self.streams.acquire()
        self._permit.pending = True
        try:
            return super().urlopen(method, url, *args, **kwargs)
        finally:
            if self._permit.__dict__.pop("pending", False):  # no connection took it
                self.streams.release()

    def _get_conn(self, timeout: float | None = None) -> Any:
        """A pooled channel that is still open, else a new one; waits for a free slot.
        (urllib3's own check of a pooled connection selects on a paramiko channel's
        fileno(), which makes a pipe per channel: skipped.)"""
        if self.pool is None:
            raise urllib3.exceptions.ClosedPoolError(self, "Pool is closed.")
        try:
            conn = self.pool.get(block=True, timeout=timeout or POOL_WAIT_SECONDS)
        except Exception as error:  # queue.Empty
            raise urllib3.exceptions.EmptyPoolError(self, _busy("requests")) from error
        if conn is not None and (conn.sock is None or conn.sock.closed):
            conn.close()
            conn = None
        conn = conn or self._new_conn()
        if self._permit.__dict__.pop("pending", False):
            conn.stream_permit = self.streams
        return conn

    def _put_conn(self, conn: Any) -> None:
        if conn is not None and conn.stream_permit is not None:
            conn.stream_permit.release()
            conn.stream_permit = None
        super()._put_conn(conn)


def _busy(what: str) -> str:
    return (
        f"every ssh channel devd may use for {what} stayed busy for {POOL_WAIT_SECONDS:g} s "
        f"(sshd allows {SESSION_LIMIT} per connection)"
    )


class SshAdapter(docker.transport.basehttpadapter.BaseHTTPAdapter):  # type: ignore[misc]
    """requests' adapter for ``http+docker://ssh``: every request through the one pool."""

    def __init__(self, link: SshLink, timeout: float) -> None:
        super().__init__()
        self.link = link
        self.pool = _ChannelPool(link, timeout)

    def get_connection(self, url: Any, proxies: Any = None) -> _ChannelPool:
        return self.pool

    def close(self) -> None:
        super().close()
        self.pool.close()
        self.link.close()


def docker_client(url: str, *, timeout: float) -> tuple[Any, SshLink]:
    """A docker-py client whose requests all go through one :class:`SshLink` to ``url``'s
    host, and that link (for port forwards). Raises EngineUnavailable (paramiko missing,
    host key unknown, login refused), SshUnreachable (no ssh answers) or docker-py's errors
    (nothing answers behind it)."""
    link = SshLink(target(url), timeout=CONNECT_TIMEOUT)
    # An explicit version makes docker-py send nothing yet; the adapter is then swapped in.
    client = docker.DockerClient(base_url="tcp://127.0.0.1:9", version="1.41", timeout=timeout)
    api = client.api
    adapter = SshAdapter(link, timeout)
    api.mount(API_BASE_URL, adapter)
    api._custom_adapter = adapter
    api._unmount("http://", "https://")
    api.base_url = API_BASE_URL
    try:  # docker-py's "auto": the engine's API version
        api._version = api._retrieve_server_version()
    except BaseException:
        client.close()
        raise
    return client, link


def link_of(client: Any) -> SshLink | None:
    """The ssh link under a client :func:`docker_client` made; None for other clients."""
    adapter = getattr(client.api, "_custom_adapter", None)
    return adapter.link if isinstance(adapter, SshAdapter) else None


def is_ssh(host: str | None) -> bool:
    """Whether DOCKER_HOST names an engine behind ssh."""
    return bool(host) and str(host).startswith("ssh://")
