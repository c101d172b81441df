"""devd/engine/ssh.py against a real sshd (stock configuration, MaxSessions 10) in front of a
private engine, both in a network namespace of the test's own (tests/privatesshd.py)."""

from __future__ import annotations

import sys

import pytest

from devd.engine.engine import connect
from devd.errors import EngineUnavailable
from tests.privatesshd import PrivateSshd

pytestmark = pytest.mark.timeout(180)


def test_without_paramiko_the_error_is_one_line_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DOCKER_HOST=ssh://... without paramiko installed: one line that says to install
    devd[ssh] (it used to be "name 'SSHHTTPAdapter' is not defined")."""
    monkeypatch.setitem(sys.modules, "paramiko", None)  # import paramiko -> ImportError
    monkeypatch.setenv("DOCKER_HOST", "ssh://root@192.0.2.1")
    with pytest.raises(EngineUnavailable) as raised:
        connect()
    assert str(raised.value) == "ssh:// engines need paramiko: pip install 'devd[ssh]'"


@pytest.mark.engine
def test_an_unknown_host_key_is_one_line_saying_what_to_do(
    ssh_env: PrivateSshd, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host not in known_hosts is refused (as ssh would without a terminal to ask on), in
    one line that says how to accept its key."""
    (ssh_env.home / ".ssh" / "known_hosts").write_text("")
    with pytest.raises(EngineUnavailable) as raised:
        connect()
    message = str(raised.value)
    assert "\n" not in message
    assert f"the host key of {ssh_env.engine.address} is not in ~/.ssh/known_hosts" in message
    assert f"run `ssh {ssh_env.engine.address}` once" in message


@pytest.mark.engine
def test_connect_over_ssh_reaches_the_engine_behind_sshd(ssh_env: PrivateSshd) -> None:
    """devd's connect() with DOCKER_HOST=ssh://... answers from the private engine (the one
    sshd's dial-stdio reaches), not the shared one."""
    with connect() as engine:
        names = {tag for image in engine.client.images.list() for tag in image.tags}
        assert names == {"devd-busybox:latest"}, names
        assert engine.transport.unreachable() is None


@pytest.mark.engine
def test_an_engine_down_behind_sshd_is_one_line_with_what_the_host_said(
    ssh_env: PrivateSshd,
) -> None:
    """sshd answers but the engine behind it does not: one line with what `docker system
    dial-stdio` printed on the engine's host (docker-py alone says "Remote end closed
    connection without response")."""
    ssh_env.engine.stop()
    with pytest.raises(EngineUnavailable) as raised:
        connect()
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"no Docker engine answers at {ssh_env.host} (from DOCKER_HOST): ")
    assert f"`docker system dial-stdio` on {ssh_env.engine.address} said: " in message
    assert f"dial unix {ssh_env.engine.dir}/docker.sock: connect:" in message, message
