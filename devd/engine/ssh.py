"""An engine behind ssh (``DOCKER_HOST=ssh://[user@]host[:port]``): one SSH connection devd
makes with paramiko (the optional extra ``devd[ssh]``) and owns, carrying every API request
and, for :mod:`devd.engine.port_forward`, the published ports forwarded to this machine.

Each API connection is an SSH *session* channel running ``docker system dial-stdio`` on the
remote host (the docker CLI there must be installed), as docker-py's own ssh transport does;
:mod:`devd.engine.ssh_pool` bounds how many are open at once to what a stock sshd allows
(``MaxSessions 10``). sshd frees a session only once the remote command has exited, a moment
after devd closed its channel, so a session refused (reason 2) is asked for again for up to
:data:`REFUSED_RETRY_SECONDS` before it counts as an error. The connection is made again
when it drops (sshd restarted, the network back).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors

from devd.engine.ssh_pool import SESSION_LIMIT, SshAdapter
from devd.errors import EngineUnavailable

SSH_EXTRA_HINT = "ssh:// engines need paramiko: pip install 'devd[ssh]'"
REFUSED_RETRY_SECONDS = 10.0
CONNECT_TIMEOUT = 10.0
DIAL_STDIO = "docker system dial-stdio"
API_BASE_URL = "http+docker://ssh"


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
        try:
            channel.exec_command(command)
        except (self._paramiko.SSHException, EOFError) as error:  # the connection went
            channel.close()
            raise SshUnreachable(f"ssh to {self.target.host}: {error or 'closed'}") from error
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
                    said = b"" if reply else _stderr_of(channel)
                except OSError as error:
                    if isinstance(error, TimeoutError):
                        raise
                    return str(error) or type(error).__name__
        if reply.startswith(b"HTTP/1.") and reply[9:12] == b"200":
            return None
        if not reply:  # dial-stdio ended: no docker CLI there, or no engine behind it
            text = " ".join(said.decode(errors="replace").split())
            return f"`{DIAL_STDIO}` on {self.target.host} said: {text or 'nothing'}"
        return f"the engine answered {reply[9:12].decode(errors='replace')!r}"

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def _stderr_of(channel: Any) -> bytes:
    """What the command of a channel that ended printed on stderr (its last 300 bytes)."""
    said = b""
    with contextlib.suppress(OSError):
        while chunk := channel.recv_stderr(4096):
            said += chunk
    return said[-300:]


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
    except docker.errors.DockerException as error:
        reason = link.fresh_ping(CONNECT_TIMEOUT)  # what the host said, if dial-stdio failed
        client.close()
        if reason is not None:
            raise SshUnreachable(reason) from error
        raise
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
