"""devd/engine/port_forward.py through a real sshd (MaxSessions 10) to a port published by a
private engine in a network namespace of the test's own (tests/privatesshd.py)."""

from __future__ import annotations

import hashlib
import socket
import threading
import urllib.request
from typing import Any

import pytest

from devd.engine import ssh
from devd.engine.port_forward import PortForwarder
from devd.engine.ssh_pool import STREAM_CHANNELS
from tests.privatesshd import PrivateSshd
from tests.updriver import free_port, wait_for

pytestmark = [pytest.mark.engine, pytest.mark.timeout(180)]

CONNECTIONS = 16  # more than MaxSessions: forwards are not sessions


def test_forwarded_connections_beside_held_sessions_carry_every_byte(
    linked: tuple[Any, ssh.SshLink], ssh_engine: PrivateSshd
) -> None:
    """A web server published on the engine's host (port P there) answers at 127.0.0.1:P here
    through the forwarder: 16 connections at once, each reading a 2 MB file intact, while 5
    followed log streams (all devd allows) hold sessions. sshd refuses nothing (forwards are
    direct-tcpip channels, which MaxSessions does not count); a refused far side (nothing
    listening on another port) is reported to the callback and that connection closed, the
    rest go on."""
    client, _ = linked
    port, dead_port = free_port(), free_port()
    server = client.containers.run(
        "devd-busybox:latest",
        [
            "sh",
            "-c",
            "mkdir /srv && head -c 2097152 /dev/urandom > /srv/blob && "
            "echo served && exec httpd -f -p 8000 -h /srv",
        ],
        ports={"8000/tcp": port},
        detach=True,
    )
    held = STREAM_CHANNELS  # every stream devd allows, each a session held throughout
    streams = [client.api.logs(server.id, stream=True, follow=True) for _ in range(held)]
    failures: list[tuple[int, Exception]] = []
    link = ssh.link_of(client)
    assert link is not None
    forwarder = PortForwarder(link.forward, lambda p, e: failures.append((p, e)))
    try:
        forwarder.add(port)
        forwarder.add(dead_port)
        wait_for(lambda: b"served" in server.logs(), 30, "httpd")
        expected = hashlib.sha256(server.exec_run(["cat", "/srv/blob"]).output).hexdigest()
        bodies: list[str] = []

        def fetch() -> None:
            url = f"http://127.0.0.1:{port}/blob"
            with urllib.request.urlopen(url, timeout=60) as answer:
                bodies.append(hashlib.sha256(answer.read()).hexdigest())

        threads = [threading.Thread(target=fetch) for _ in range(CONNECTIONS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert bodies == [expected] * CONNECTIONS
        with socket.create_connection(("127.0.0.1", dead_port), timeout=10) as refused:
            assert refused.recv(1) == b""  # closed: nothing listens there on the far side
        wait_for(lambda: failures, 10, "the refused forward reported")
        assert [p for p, _ in failures] == [dead_port]
        assert ssh_engine.refusals() == 0, ssh_engine.log_tail()
    finally:
        forwarder.close()
        for stream in streams:
            stream.close()
    with pytest.raises(ConnectionRefusedError):  # the listener is gone with close()
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
