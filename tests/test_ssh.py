"""devd/engine/ssh.py against a real sshd (stock configuration, MaxSessions 10) in front of a
private engine, both in a network namespace of the test's own (tests/privatesshd.py)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from devd.engine import ssh
from devd.engine.engine import connect
from devd.errors import EngineUnavailable
from tests.privatesshd import MAX_SESSIONS, PrivateSshd

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def ssh_env(ssh_engine: PrivateSshd, monkeypatch: pytest.MonkeyPatch) -> PrivateSshd:
    for key, value in ssh_engine.env.items():
        monkeypatch.setenv(key, value)
    return ssh_engine


@pytest.fixture
def linked(ssh_env: PrivateSshd) -> Iterator[tuple[Any, ssh.SshLink]]:
    client, link = ssh.docker_client(ssh_env.host, timeout=60)
    try:
        yield client, link
    finally:
        client.close()


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
def test_many_requests_and_streams_at_once_stay_within_max_sessions(
    linked: tuple[Any, ssh.SshLink], ssh_env: PrivateSshd
) -> None:
    """What devd opens at once on a busy stack (8 followed log streams, an event stream, 3
    execs and 24 requests from as many threads) goes through at a stock sshd's MaxSessions
    10: nothing is refused, every stream gets its output, and sshd never runs more than 10
    dial-stdio at once; the streams past STREAM_CHANNELS wait for one to end."""
    client, link = linked
    container = client.containers.run(
        "devd-busybox:latest", ["sh", "-c", "echo ready; sleep 4; echo done"], detach=True
    )
    errors: list[BaseException] = []
    logs: list[bytes] = []

    def guarded(work: Any) -> Any:
        def run() -> None:
            try:
                work()
            except BaseException as error:  # collected, asserted below
                errors.append(error)

        return run

    def follow() -> None:
        logs.append(b"".join(client.api.logs(container.id, stream=True, follow=True)))

    def events() -> None:
        stream = client.api.events(decode=True)
        time.sleep(2)
        stream.close()

    def request() -> None:
        for _ in range(5):
            client.api.ping()
            client.api.containers(all=True)

    def run_exec() -> None:
        assert container.exec_run(["echo", "hi"]).output == b"hi\n"

    threads = [threading.Thread(target=guarded(follow)) for _ in range(8)]
    threads += [threading.Thread(target=guarded(events))]
    threads += [threading.Thread(target=guarded(run_exec)) for _ in range(3)]
    threads += [threading.Thread(target=guarded(request)) for _ in range(24)]
    with ssh_env.counting_sessions() as peak:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert not errors, errors
    assert logs == [b"ready\ndone\n"] * 8
    assert link.peak_sessions <= MAX_SESSIONS, link.peak_sessions
    assert peak[0] <= MAX_SESSIONS, peak[0]
    assert ssh_env.refusals() == 0, ssh_env.log_tail()
    print(f"sessions opened {link.sessions_opened}, peak {link.peak_sessions} (sshd: {peak[0]})")
