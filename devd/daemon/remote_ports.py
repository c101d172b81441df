"""Where the published ports answer when the engine is not on this machine (``devd up``).

A port is published on the engine's host. With a local engine (the unix socket, tcp:// to
this machine) that is here, and nothing is said. Otherwise ``devd up`` says, once per port
when it starts (and for each port a reload adds), where the port answers:

* tcp:// — at the engine's host (``http://10.0.0.5:8000``): localhost does not answer;
* ssh:// — at localhost too: each TCP port is forwarded to the same port here through devd's
  own ssh connection (:mod:`devd.engine.port_forward`), as ``ssh -L 8000:localhost:8000``
  would, so "open http://localhost:8000" stays true. A port already taken here is one
  warning naming it and where it still answers; the others are forwarded. UDP ports are not
  (ssh forwards TCP only), nor ports the engine picks (no host port in the configuration).
"""

from __future__ import annotations

import ipaddress
import threading
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from devd.config import ProjectConfig
from devd.daemon.ports import Reporter
from devd.engine import ssh
from devd.engine.engine import Engine
from devd.engine.port_forward import PortForwarder
from devd.engine.ssh import SshLink

_ANY_ADDRESS = ("", "0.0.0.0", "::")


@dataclass(frozen=True)
class Published:
    """One published port of a service: ``port`` on the engine host's ``host_ip``."""

    service: str
    port: int
    container: int
    protocol: str
    host_ip: str

    @property
    def remote_target(self) -> str:
        """The address to reach it at on the engine's host itself."""
        return "127.0.0.1" if self.host_ip in _ANY_ADDRESS else self.host_ip


def engine_host(docker_host: str | None) -> str | None:
    """The engine's host when it is another machine (tcp:// or ssh://), else None."""
    if not docker_host:
        return None
    parsed = urllib.parse.urlsplit(docker_host)
    if parsed.scheme not in ("tcp", "ssh", "http", "https") or not parsed.hostname:
        return None
    if parsed.hostname == "localhost":
        return None
    try:
        if ipaddress.ip_address(parsed.hostname).is_loopback:
            return None
    except ValueError:  # a name, not an address
        pass
    return parsed.hostname


def published(project: ProjectConfig) -> list[Published]:
    """Every port the project's services publish, in service order."""
    return [
        Published(name, port.host, port.container, port.protocol, port.host_ip or "")
        for name, service in project.services.items()
        for port in service.ports
    ]


class RemotePorts:
    """Says where the ports answer and, over ssh, forwards them; :meth:`close` stops that."""

    def __init__(self, host: str, link: SshLink | None, out: Reporter) -> None:
        self.host = host
        self.out = out
        self.forwarder = (
            PortForwarder(link.forward, self._connection_failed) if link is not None else None
        )
        self._said: set[Published] = set()  # written by update() only, on devd up's loop
        self._forbidden_lock = threading.Lock()  # forwarder threads report failures
        self._forbidden: set[int] = set()

    def update(self, project: ProjectConfig) -> None:
        """Say (and forward) each port not said yet; stop forwarding the ports gone."""
        ports = published(project)
        for port in ports:
            if port not in self._said:
                self._said.add(port)
                self._announce(port)
        if self.forwarder is not None:
            wanted = {port.port for port in ports}
            for gone in self.forwarder.ports() - wanted:
                self.forwarder.remove(gone)
            self._said = {port for port in self._said if port in ports}

    def close(self) -> None:
        if self.forwarder is not None:
            self.forwarder.close()

    def _announce(self, port: Published) -> None:
        where = self._where(port)
        if self.forwarder is None or port.protocol != "tcp" or not port.port:
            note = {} if self.forwarder is None else {"note": _not_forwarded(port)}
            self.out.info("port on the engine's host", service=port.service, answers=where, **note)
            return
        try:
            self.forwarder.add(port.port, port.remote_target)
        except OSError as error:
            self.out.warning(
                "port taken on this machine; not forwarded",
                service=port.service,
                port=port.port,
                error=error.strerror or str(error),
                answers=where,
            )
            return
        self.out.info(
            "port forwarded through ssh",
            service=port.service,
            answers=f"localhost:{port.port}",
            to=where,
        )

    def _where(self, port: Published) -> str:
        """``host:port`` at the engine's host (``127.0.0.1:port on host`` for a port
        published on one of its addresses only)."""
        number = f"{port.port or '?'}" + ("/udp" if port.protocol == "udp" else "")
        if port.host_ip in _ANY_ADDRESS:
            return f"{self.host}:{number}"
        return f"{port.host_ip}:{number} on {self.host}"

    def _connection_failed(self, port: int, error: Exception) -> None:
        """A connection to a forwarded port that sshd would not carry: nothing listens there
        yet (the app starting) is what a local port would say too, so only with -v; sshd
        forbidding forwards (AllowTcpForwarding no) is said once."""
        why = str(error) or type(error).__name__
        with self._forbidden_lock:
            first = "prohibited" in why.lower() and port not in self._forbidden
            self._forbidden.add(port)
        if first:
            self.out.warning(
                "sshd forbids forwarding the port (AllowTcpForwarding)",
                port=port,
                host=self.host,
                error=why,
            )
        else:
            self.out.debug("a forwarded connection was refused", port=port, error=why)


def for_engine(engine: Engine, environ: Mapping[str, str], out: Reporter) -> RemotePorts | None:
    """The RemotePorts of ``engine`` (the one DOCKER_HOST names), if it is on another
    machine; over ssh, forwarding through its connection."""
    host = engine_host(environ.get("DOCKER_HOST"))
    return None if host is None else RemotePorts(host, ssh.link_of(engine.client), out)


def _not_forwarded(port: Published) -> str:
    if port.protocol != "tcp":
        return f"{port.protocol} is not forwarded (ssh forwards TCP only)"
    return "not forwarded: the engine picks the host port"
