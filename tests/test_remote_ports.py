"""Where published ports answer when the engine is remote (devd/daemon/remote_ports.py,
devd/engine/port_forward.py): ``devd up`` against a private engine behind a real sshd, and
over TCP, each in a network namespace of the test's own."""

from __future__ import annotations

import io
import signal
import socket
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from devd import config
from devd.daemon import remote_ports
from devd.daemon.enginewatch import LOST
from devd.daemon.follow import EXITED
from devd.daemon.remote_ports import engine_host
from devd.output import Output
from tests.privateengine import PrivateEngine
from tests.privatesshd import MAX_SESSIONS, PrivateSshd
from tests.updriver import Sample, UpProcess, fetch, free_port, served

FORWARDED = "port forwarded through ssh"
TAKEN = "port taken on this machine; not forwarded"
ON_ENGINE_HOST = "port on the engine's host"


def at(event: dict[str, Any]) -> float:
    """When devd printed ``event`` (its ISO timestamp), in seconds since the epoch."""
    return datetime.fromisoformat(str(event["timestamp"])).timestamp()


def two_port_sample(root: Path, name: str) -> tuple[Sample, int, int]:
    """The sample project publishing its port 8000 on two host ports."""
    first, second = free_port(), free_port()
    sample = Sample(root, name, first)
    toml = sample.devd_toml(first).replace(
        f'ports = ["{first}:8000"]', f'ports = ["{first}:8000", "{second}:8000"]'
    )
    sample.write("devd.toml", toml)
    return sample, first, second


@pytest.mark.engine
@pytest.mark.timeout(240)
def test_ssh_engine_ports_answer_on_localhost_and_a_taken_one_is_one_line(
    ssh_engine: PrivateSshd, tmp_path: Path, test_id: str
) -> None:
    """devd up with DOCKER_HOST=ssh://...: the app, built and run on the engine's host, is
    served at http://localhost:PORT here through devd's ssh connection, before and after a
    save rebuilds it; a port already taken here is one warning naming it and where it still
    answers, and the other port is forwarded all the same. sshd (MaxSessions 10) refuses no
    channel meanwhile, and devd up exits 0 on Ctrl-C, its listeners closed."""
    sample, first, taken = two_port_sample(tmp_path / "proj", f"t{test_id}")
    squatter = socket.create_server(("127.0.0.1", taken))
    up = UpProcess(sample.root, environ=ssh_engine.env)
    try:
        with ssh_engine.counting_sessions() as peak:
            forwarded = up.wait_event(FORWARDED, timeout=60)
            assert forwarded == {**forwarded, "service": "app", "answers": f"localhost:{first}"}
            assert forwarded["to"] == f"{ssh_engine.engine.address}:{first}"
            warning = up.wait_event(TAKEN, timeout=10)
            assert warning["port"] == taken, warning
            assert warning["answers"] == f"{ssh_engine.engine.address}:{taken}", warning
            assert warning["error"] == "Address already in use", warning
            assert len(up.named(TAKEN)) == 1
            up.wait_event("running", service="app", timeout=120)
            served(first, f"version-1 {sample.name}", timeout=30)
            sample.write("www/index.html", "version-2\n")
            served(first, "version-2", timeout=60)
            assert up.named("error") == [], up.summary()
            assert up.stderr_lines == []  # paramiko's log lines, tracebacks: nothing but devd's
            assert up.stop(signal.SIGINT) == 0
            assert fetch(first) is None  # the forward ended with devd up
    finally:
        up.kill()
        squatter.close()
    assert ssh_engine.refusals() == 0, ssh_engine.log_tail()
    assert 0 < peak[0] <= MAX_SESSIONS, peak
    print(f"\ndevd up over ssh: at most {peak[0]} sessions at once (sshd's dial-stdio)")


@pytest.mark.engine
@pytest.mark.timeout(240)
def test_tcp_engine_ports_are_said_where_they_answer(
    tcp_engine: PrivateEngine, tmp_path: Path, test_id: str
) -> None:
    """devd up with DOCKER_HOST=tcp://... (no ssh connection to forward through): one line per
    published port says it answers at the engine's host, not at localhost."""
    sample, first, second = two_port_sample(tmp_path / "proj", f"t{test_id}")
    sample.write(
        "devd.toml", sample.root.joinpath("devd.toml").read_text() + 'build_network = "none"\n'
    )
    up = UpProcess(sample.root, environ={"DOCKER_HOST": tcp_engine.host})
    try:
        up.wait_event(ON_ENGINE_HOST, count=2, timeout=60)
        answers = sorted(event["answers"] for event in up.named(ON_ENGINE_HOST))
        assert answers == sorted(f"{tcp_engine.address}:{port}" for port in (first, second))
        assert up.named(FORWARDED) == []
    finally:
        up.kill()


def test_only_an_engine_on_another_machine_has_remote_ports() -> None:
    """The unix socket and loopback addresses are this machine; tcp:// and ssh:// hosts
    elsewhere are not."""
    for local in (None, "", "unix:///var/run/docker.sock", "tcp://127.0.0.1:2375"):
        assert engine_host(local) is None, local
    assert engine_host("ssh://localhost") is None
    assert engine_host("tcp://10.0.0.5:2375") == "10.0.0.5"
    assert engine_host("ssh://me@build-box:2222") == "build-box"


@pytest.mark.engine
@pytest.mark.timeout(240)
def test_ssh_engine_restarted_while_idle_gets_the_app_back_on_localhost(
    ssh_engine: PrivateSshd, tmp_path: Path, test_id: str
) -> None:
    """DOCKER_HOST=ssh://...; the engine behind sshd gets SIGTERM while devd up is idle, then
    starts again (sshd stays). The log stream's end does not read as the app exiting: devd
    asks on a channel of its own, whose dial-stdio the stopped engine refuses; it says once
    that the engine went, that it is back, and the app answers at localhost again through
    the same forward, with no raw traceback and no channel refused."""
    sample, first, _ = two_port_sample(tmp_path / "proj", f"t{test_id}")
    up = UpProcess(sample.root, environ=ssh_engine.env)
    try:
        up.wait_event("running", service="app", timeout=120)
        served(first, f"version-1 {sample.name}", timeout=30)
        stopped = time.time()
        ssh_engine.engine.stop()
        lost = up.wait_event(LOST, timeout=30)
        assert lost["engine"] == f"{ssh_engine.host} (from DOCKER_HOST)", lost
        restarted = time.time()
        ssh_engine.engine.start()
        back = up.wait_event("engine back", timeout=30)
        served(first, f"version-1 {sample.name}", timeout=60)
        recovered = time.time()
        assert not up.named(EXITED), up.summary()
        assert len(up.named(LOST)) == 1, up.summary()
        assert up.stderr_lines == []  # no raw traceback, no paramiko log line
        assert ssh_engine.refusals() == 0, ssh_engine.log_tail()
        print(
            f"\nssh engine stop, idle: noticed {at(lost) - stopped:.2f} s after SIGTERM; back "
            f"noticed {at(back) - restarted:.2f} s after start; app at localhost "
            f"{recovered - restarted:.2f} s after start"
        )
    finally:
        up.kill()


@pytest.mark.engine
@pytest.mark.timeout(300)
def test_seven_services_over_ssh_all_build_and_answer_within_max_sessions(
    ssh_engine: PrivateSshd, tmp_path: Path, test_id: str
) -> None:
    """Seven services built at once over ssh (7 builds, then 7 followed log streams, the
    event stream and every request, through a stock sshd's MaxSessions 10): every one is
    built and answers at localhost through its forward, then again after a save rebuilds all
    seven; no build fails and no channel is refused. The two log streams past the six devd
    keeps for streams wait, and say so in one line each."""
    names = [f"s{number}" for number in range(1, 8)]
    ports = {name: free_port() for name in names}
    sample = Sample(tmp_path / "proj", f"t{test_id}", ports["s1"])
    sample.write(
        "devd.toml",
        f'project = "{sample.name}"\ndebounce_ms = 50\n'
        + "".join(
            f'[services.{name}]\nports = ["{port}:8000"]\n'
            'build_args = { BASE = "devd-busybox:latest" }\nstop_timeout = 2\n'
            for name, port in ports.items()
        ),
    )
    up = UpProcess(sample.root, environ=ssh_engine.env)
    try:
        with ssh_engine.counting_sessions() as peak:
            for name in names:
                up.wait_event("running", service=name, timeout=180)
            for port in ports.values():
                served(port, f"version-1 {sample.name}", timeout=30)
            sample.write("www/index.html", "version-2\n")
            for name in names:
                up.wait_event("running", count=2, service=name, timeout=120)
            for port in ports.values():
                served(port, "version-2", timeout=30)
        assert up.named("failed") == [], up.summary()
        assert up.named("error") == [], up.summary()
        assert up.stderr_lines == []
        waits = [e for e in up.events if str(e.get("event", "")).startswith("an ssh channel")]
        assert len(waits) >= 2, up.summary()
    finally:
        up.kill()
    assert ssh_engine.refusals() == 0, ssh_engine.log_tail()
    assert peak[0] <= MAX_SESSIONS, peak
    print(f"\nseven services over ssh: at most {peak[0]} sessions at once")


@pytest.mark.engine
@pytest.mark.timeout(240)
def test_ssh_connection_lost_and_back_keeps_the_app_at_localhost(
    ssh_engine: PrivateSshd, tmp_path: Path, test_id: str
) -> None:
    """sshd and every connection it holds are killed while devd up is idle (the engine and
    the app go on running behind it), then sshd starts again: devd says once that the engine
    cannot be reached, naming the ssh failure, makes its connection again when sshd is back,
    reports no exit, and the app answers at localhost again through the same forward."""
    sample, first, _ = two_port_sample(tmp_path / "proj", f"t{test_id}")
    up = UpProcess(sample.root, environ=ssh_engine.env)
    try:
        up.wait_event("running", service="app", timeout=120)
        served(first, f"version-1 {sample.name}", timeout=30)
        ssh_engine.kill()
        lost = up.wait_event(LOST, timeout=30)
        assert f"ssh to {ssh_engine.engine.address} failed" in str(lost), lost
        assert fetch(first) is None
        ssh_engine.start()
        up.wait_event("engine back", timeout=30)
        served(first, f"version-1 {sample.name}", timeout=30)
        sample.write("www/index.html", "version-2\n")
        served(first, "version-2", timeout=60)
        assert not up.named(EXITED), up.summary()
        assert len(up.named(LOST)) == 1, up.summary()
        assert up.stderr_lines == []
    finally:
        up.kill()


def test_a_tcp_engine_says_each_port_once_and_a_port_a_reload_adds(
    tmp_path: Path,
) -> None:
    """Without an ssh connection (tcp://) every port is one line saying where it answers,
    with the address it is published on; a reload with the same ports says nothing again,
    and a port it adds is said."""
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "devd.toml").write_text(
        '[services.web]\nports = ["8000:8000", "127.0.0.1:9000:9000", "5353:53/udp"]\n'
    )
    project = config.load(tmp_path, environ={})
    ports = remote_ports.RemotePorts("box", None, Output(True, ["web"], io.StringIO()))
    with capture_logs() as said:
        ports.update(project)
        ports.update(project)
    assert [(e["event"], e["answers"]) for e in said] == [
        (ON_ENGINE_HOST, "box:8000"),
        (ON_ENGINE_HOST, "127.0.0.1:9000 on box"),
        (ON_ENGINE_HOST, "box:5353/udp"),
    ]
    assert "note" not in said[2]  # nothing is forwarded over tcp://, udp or not
    (tmp_path / "devd.toml").write_text('[services.web]\nports = ["8000:8000", "8001:8000"]\n')
    with capture_logs() as added:
        ports.update(config.load(tmp_path, environ={}))
    assert [(e["event"], e["answers"]) for e in added] == [(ON_ENGINE_HOST, "box:8001")]
