"""devd/engine/ssh_pool.py against a real sshd (stock configuration, MaxSessions 10) in front
of a private engine, both in a network namespace of the test's own (tests/privatesshd.py)."""

from __future__ import annotations

import threading
import time
from typing import Any

import docker.errors
import pytest

from devd.engine import ssh
from tests.privatesshd import MAX_SESSIONS, PrivateSshd

pytestmark = [pytest.mark.engine, pytest.mark.timeout(180)]


def test_many_requests_and_streams_at_once_stay_within_max_sessions(
    linked: tuple[Any, ssh.SshLink], ssh_engine: PrivateSshd
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
    with ssh_engine.counting_sessions() as peak:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert not errors, errors
    assert logs == [b"ready\ndone\n"] * 8
    assert link.peak_sessions <= MAX_SESSIONS, link.peak_sessions
    assert peak[0] <= MAX_SESSIONS, peak[0]
    assert ssh_engine.refusals() == 0, ssh_engine.log_tail()
    print(f"sessions opened {link.sessions_opened}, peak {link.peak_sessions} (sshd: {peak[0]})")


def test_responses_docker_py_drops_unread_do_not_use_up_the_channels(
    linked: tuple[Any, ssh.SshLink], ssh_engine: PrivateSshd
) -> None:
    """docker-py's logs() of a container that is gone asks for the logs, then inspects the
    container and raises NotFound, leaving the logs response unread and its channel open
    (what a log follower started just after a replace does). Twenty of those, more than the
    nine channels the API may hold: every request after them is still answered at once, and
    sshd never runs more than 10 dial-stdio."""
    client, _ = linked
    container = client.containers.create("devd-busybox:latest", ["true"])
    container.remove()
    with ssh_engine.counting_sessions() as peak:
        for _ in range(20):
            with pytest.raises(docker.errors.NotFound):
                client.api.logs(container.id, stream=True, follow=True)
        started = time.monotonic()
        assert client.api.ping() is True
        answered = time.monotonic() - started
    assert answered < 5, answered
    assert peak[0] <= MAX_SESSIONS, peak
    assert ssh_engine.refusals() == 0, ssh_engine.log_tail()
