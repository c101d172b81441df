"""``devd up`` against an engine that goes away: stopped, killed mid-build, frozen (SIGSTOP),
started or thawed again.

Each test runs ``devd up`` on the busybox sample against a private dockerd
(tests/privateengine.py) that it stops or kills and starts again; the shared engine is never
touched. The private engine's containers have no network, so what the app serves is read
with ``docker exec ... wget`` inside the container. The figures (time to notice the outage,
time from the engine's return to the saved content being served) are printed (``-s``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from devd.daemon.enginewatch import FROZEN, LOST, NOT_ANSWERING
from devd.daemon.follow import ANCHOR_STOPPED
from tests.privateengine import PrivateEngine
from tests.updriver import SAMPLE_DOCKERFILE, Sample, UpProcess, free_port, wait_for

pytestmark = pytest.mark.engine

EXITED = "container exited; not restarting it (save a change to rebuild)"
SLOW_DOCKERFILE = SAMPLE_DOCKERFILE.replace(
    "RUN sh -c '! grep -q BROKEN deps.txt'",
    "RUN sh -c 'if grep -q SLOW deps.txt; then echo sleeping; sleep 60; fi' && "
    "sh -c '! grep -q BROKEN deps.txt'",
)
# The private engine makes no bridge (privateengine.py): its builds' RUN steps have no network,
# which BuildKit must be told (the classic builder falls back to none by itself).
NO_BUILD_NETWORK = 'build_network = "none"\n'


@pytest.fixture
def project(
    private_engine: PrivateEngine, tmp_path: Path, test_id: str, monkeypatch: pytest.MonkeyPatch
) -> Sample:
    """The sample project, with DOCKER_HOST pointing devd at the private engine."""
    monkeypatch.setenv("DOCKER_HOST", private_engine.host)
    sample = Sample(tmp_path / "proj", f"t{test_id}", free_port())
    sample.write("Dockerfile", SLOW_DOCKERFILE)
    sample.write("devd.toml", sample.devd_toml(sample.port, NO_BUILD_NETWORK))
    return sample


@pytest.fixture
def devd_up(project: Sample) -> Iterator[UpProcess]:
    """``devd up`` on the project, against the private engine; killed at the end."""
    process = UpProcess(project.root)
    yield process
    process.kill()


@pytest.fixture
def tcp_project(
    tcp_engine: PrivateEngine, tmp_path: Path, test_id: str, monkeypatch: pytest.MonkeyPatch
) -> Sample:
    """The sample project, with DOCKER_HOST pointing devd at the private engine over TCP."""
    monkeypatch.setenv("DOCKER_HOST", tcp_engine.host)
    sample = Sample(tmp_path / "proj", f"t{test_id}", free_port())
    sample.write("Dockerfile", SLOW_DOCKERFILE)
    sample.write("devd.toml", sample.devd_toml(sample.port, NO_BUILD_NETWORK))
    return sample


def serving(engine: PrivateEngine, project: Sample, expected: str, path: str = "/") -> list[Any]:
    """The project's running containers, once one serves ``expected`` at ``path``."""

    def check() -> list[Any] | None:
        found = engine.running(f"devd.project={project.name}")
        for container in found:
            body = engine.exec(container.id, "wget", "-qO-", f"http://127.0.0.1:8000{path}")
            if body is not None and expected in body:
                return found
        return None

    result: list[Any] = wait_for(check, 60, f"{expected!r} served", interval=0.1)
    return result


def one_container(
    engine: PrivateEngine, project: Sample, services: tuple[str, ...] = ("app",)
) -> None:
    """Exactly one container per service, running, carries the project's labels, and no
    other: no duplicate left."""
    selector = {"label": f"devd.project={project.name}"}
    every = engine.client.containers.list(all=True, filters=selector)
    found = sorted((c.labels.get("devd.service"), c.status) for c in every)
    assert found == [(service, "running") for service in sorted(services)], found


def starting(up: UpProcess, prefix: str) -> list[dict[str, Any]]:
    """The events devd printed whose name starts with ``prefix``."""
    return [e for e in list(up.events) if str(e.get("event", "")).startswith(prefix)]


def at(event: dict[str, Any]) -> float:
    """When devd printed ``event`` (its ISO timestamp), in seconds since the epoch."""
    return datetime.fromisoformat(str(event["timestamp"])).timestamp()


def test_engine_stopped_and_started_again_is_waited_out(
    private_engine: PrivateEngine, project: Sample, devd_up: UpProcess
) -> None:
    """The engine stops during devd up and a file is saved meanwhile: devd says once that the
    engine is gone (naming DOCKER_HOST), reports no crash of the app, says when it is back,
    and ends with exactly one container, serving the saved content."""
    devd_up.wait_event("running", service="app", timeout=60)
    serving(private_engine, project, "version-1")
    stopped = time.time()
    private_engine.stop()  # SIGTERM: dockerd stops the containers, then exits
    lost = devd_up.wait_event(LOST, timeout=30)
    assert lost["engine"] == f"{private_engine.host} (from DOCKER_HOST)"
    project.write("www/index.html", "version-2\n")
    time.sleep(1.0)  # the save is seen and held while the engine is gone
    restarted = time.time()
    private_engine.start()
    back = devd_up.wait_event("engine back", timeout=30)
    serving(private_engine, project, "version-2")
    recovered = time.time()
    one_container(private_engine, project)
    assert len(devd_up.named(LOST)) == 1, devd_up.summary()
    assert not devd_up.named(EXITED), devd_up.summary()
    assert not devd_up.named("failed"), devd_up.summary()
    assert not devd_up.named("lost the container's output"), devd_up.summary()
    assert not devd_up.named(ANCHOR_STOPPED), devd_up.summary()  # the engine stopped them
    print(
        f"\nengine stop: noticed {at(lost) - stopped:.2f} s after SIGTERM; back noticed "
        f"{at(back) - restarted:.2f} s after start; saved content served "
        f"{recovered - restarted:.2f} s after start (down {back['down_s']} s)"
    )


def test_engine_stopped_without_saves_gets_its_containers_back(
    private_engine: PrivateEngine, project: Sample
) -> None:
    """With no save during the outage, the containers the engine's stop ended are replaced
    when it is back: the developer has their app again, exactly one container per service."""
    web = (
        '[services.web]\nbuild_args = { BASE = "devd-busybox:latest" }\nstop_timeout = 2\n'
        + NO_BUILD_NETWORK
    )
    project.write(
        "devd.toml",
        project.devd_toml(project.port, NO_BUILD_NETWORK).replace(
            "[services.app]", web + "[services.app]"
        ),
    )
    up = UpProcess(project.root)
    try:
        up.wait_event("running", service="app", timeout=60)
        up.wait_event("running", service="web", timeout=60)
        serving(private_engine, project, "version-1")
        private_engine.stop()
        up.wait_event(LOST, timeout=30)
        private_engine.start()
        up.wait_event("engine back", timeout=30)
        up.wait_event("running", count=2, service="app", timeout=30)
        up.wait_event("running", count=2, service="web", timeout=30)
        serving(private_engine, project, "version-1")
        one_container(private_engine, project, ("app", "web"))
        assert not up.named(EXITED), up.summary()
        assert not up.named(ANCHOR_STOPPED), up.summary()
    finally:
        up.kill()


def test_engine_killed_mid_build_fails_the_build_then_recovers(
    private_engine: PrivateEngine, project: Sample, devd_up: UpProcess
) -> None:
    """dockerd killed while a build runs a slow RUN: the build is reported failed within
    seconds (not hung), devd waits for the engine, and once it is back the work is done
    again with the save made meanwhile: one container, serving it."""
    devd_up.wait_event("running", service="app", timeout=60)
    serving(private_engine, project, "version-1")
    project.write("deps.txt", "SLOW deps-2\n")
    devd_up.wait_event("building", count=2, timeout=30)
    time.sleep(2.0)  # into the RUN's sleep
    killed = time.time()
    private_engine.kill()
    failed = wait_for(lambda: starting(devd_up, "build failed"), 30, "build failed")[0]
    devd_up.wait_event(LOST, timeout=30)
    assert "engine" in failed["error"], failed
    project.write("deps.txt", "deps-3\n")
    time.sleep(1.0)
    restarted = time.time()
    answered = private_engine.start()
    back = devd_up.wait_event("engine back", timeout=30)
    wait_for(lambda: serving(private_engine, project, "deps-3", "/deps.txt"), 60, "deps-3 served")
    recovered = time.time()
    one_container(private_engine, project)
    assert not devd_up.named(EXITED), devd_up.summary()
    assert not devd_up.named(FROZEN), devd_up.summary()  # pinged mid-build: it answered
    print(
        f"\nengine kill mid-build: build failed {at(failed) - killed:.2f} s after SIGKILL; "
        f"engine answered {answered:.2f} s after start, devd saw it {at(back) - restarted:.2f} s "
        f"after start; saved content served {recovered - restarted:.2f} s after start"
    )


def test_frozen_engine_is_reported_within_seconds_and_work_goes_on_when_it_thaws(
    private_engine: PrivateEngine, project: Sample, devd_up: UpProcess
) -> None:
    """dockerd frozen (SIGSTOP: its socket accepts, nothing answers) while devd up runs, and
    a file saved: the hung work has the watchdog ping, and within seconds devd says once, in
    one line naming the socket, that the engine accepts connections but has not answered;
    a second save is held. Thawed (SIGCONT), the engine is reported back and the last save
    is served by exactly one container, nothing reported failed."""
    devd_up.wait_event("running", service="app", timeout=60)
    serving(private_engine, project, "version-1")
    private_engine.freeze()
    project.write("www/index.html", "version-2\n")
    saved = time.time()
    frozen = devd_up.wait_event(FROZEN, timeout=30)
    assert frozen["engine"] == f"{private_engine.host} (from DOCKER_HOST)", frozen
    assert str(frozen["reason"]).startswith(NOT_ANSWERING), frozen
    noticed = at(frozen) - saved
    assert noticed < 10, noticed
    project.write("www/index.html", "version-3\n")
    time.sleep(1.0)  # the save is seen and held while the engine does not answer
    thawed = time.time()
    private_engine.thaw()
    back = devd_up.wait_event("engine back", timeout=30)
    serving(private_engine, project, "version-3")
    recovered = time.time()
    one_container(private_engine, project)
    assert len(devd_up.named(FROZEN)) == 1, devd_up.summary()
    assert not devd_up.named(LOST), devd_up.summary()
    assert not devd_up.named("failed"), devd_up.summary()
    assert not starting(devd_up, "build failed"), devd_up.summary()
    assert not devd_up.named(EXITED), devd_up.summary()
    print(
        f"\nengine frozen: noticed {noticed:.2f} s after the save ({frozen['reason']}); back "
        f"noticed {at(back) - thawed:.2f} s after SIGCONT; last save served "
        f"{recovered - thawed:.2f} s after SIGCONT (down {back['down_s']} s)"
    )


def test_engine_frozen_mid_build_is_noticed_and_the_build_goes_on_when_it_thaws(
    private_engine: PrivateEngine, project: Sample
) -> None:
    """dockerd frozen while a build runs a RUN of several seconds (its request legitimately
    open all along): the watchdog's pings during the healthy part say nothing, the freeze is
    said within seconds, the build's own request is not cut, and after SIGCONT the same
    build finishes and its image is served; nothing reported failed."""
    project.write("Dockerfile", SLOW_DOCKERFILE.replace("sleep 60", "sleep 6"))
    up = UpProcess(project.root)
    try:
        up.wait_event("running", service="app", timeout=60)
        serving(private_engine, project, "version-1")
        project.write("deps.txt", "SLOW deps-2\n")
        up.wait_event("building", count=2, timeout=30)
        time.sleep(2.5)  # into the RUN's sleep: the watchdog has pinged and been answered
        assert not up.named(FROZEN), up.summary()
        frozen_at = time.time()
        private_engine.freeze()
        frozen = up.wait_event(FROZEN, timeout=30)
        noticed = at(frozen) - frozen_at
        assert noticed < 10, noticed
        time.sleep(1.0)
        thawed = time.time()
        private_engine.thaw()
        up.wait_event("engine back", timeout=30)
        wait_for(lambda: serving(private_engine, project, "deps-2", "/deps.txt"), 60, "deps-2")
        served = time.time()
        one_container(private_engine, project)
        assert len(up.named("building")) == 2, up.summary()  # the same build went on
        assert not starting(up, "build failed"), up.summary()
        assert not up.named("failed"), up.summary()
        assert not up.named(LOST), up.summary()
        print(
            f"\nengine frozen mid-build: noticed {noticed:.2f} s after SIGSTOP; the build "
            f"went on, its image served {served - thawed:.2f} s after SIGCONT"
        )
    finally:
        up.kill()


def test_tcp_engine_restarted_while_idle_gets_the_app_back(
    tcp_engine: PrivateEngine, tcp_project: Sample
) -> None:
    """DOCKER_HOST=tcp://...; dockerd gets SIGTERM while devd up is idle, then starts again.
    dockerd stops its listener first and its containers after, while the connections it
    has (the log stream's, the kept-alive ones) still answer: the log stream's end must not
    read as the app exiting. devd says once that the engine went (naming the tcp:// host),
    says it is back, and the app is served again by exactly one container."""
    up = UpProcess(tcp_project.root)
    try:
        up.wait_event("running", service="app", timeout=60)
        serving(tcp_engine, tcp_project, "version-1")
        stopped = time.time()
        tcp_engine.stop()
        lost = up.wait_event(LOST, timeout=30)
        assert lost["engine"] == f"{tcp_engine.host} (from DOCKER_HOST)", lost
        restarted = time.time()
        tcp_engine.start()
        back = up.wait_event("engine back", timeout=30)
        serving(tcp_engine, tcp_project, "version-1")
        recovered = time.time()
        one_container(tcp_engine, tcp_project)
        assert not up.named(EXITED), up.summary()
        assert len(up.named(LOST)) == 1, up.summary()
        assert not up.named(ANCHOR_STOPPED), up.summary()
        assert not up.named("failed"), up.summary()
        print(
            f"\ntcp engine stop, idle: noticed {at(lost) - stopped:.2f} s after SIGTERM; back "
            f"noticed {at(back) - restarted:.2f} s after start; app served "
            f"{recovered - restarted:.2f} s after start"
        )
    finally:
        up.kill()


def test_tcp_engine_restarted_mid_save_serves_the_last_save(
    tcp_engine: PrivateEngine, tcp_project: Sample
) -> None:
    """Over TCP, dockerd gets SIGTERM while a save's build runs a slow RUN, a file is saved
    meanwhile, and dockerd starts again: the outage is said once, the work is redone with
    the save made meanwhile, and exactly one container serves it."""
    up = UpProcess(tcp_project.root)
    try:
        up.wait_event("running", service="app", timeout=60)
        serving(tcp_engine, tcp_project, "version-1")
        tcp_project.write("deps.txt", "SLOW deps-2\n")
        up.wait_event("building", count=2, timeout=30)
        time.sleep(2.0)  # into the RUN's sleep
        tcp_engine.stop()
        up.wait_event(LOST, timeout=30)
        tcp_project.write("deps.txt", "deps-3\n")
        time.sleep(1.0)
        restarted = time.time()
        tcp_engine.start()
        up.wait_event("engine back", timeout=30)
        wait_for(lambda: serving(tcp_engine, tcp_project, "deps-3", "/deps.txt"), 60, "deps-3")
        recovered = time.time()
        one_container(tcp_engine, tcp_project)
        assert not up.named(EXITED), up.summary()
        assert len(up.named(LOST)) == 1, up.summary()
        print(
            f"\ntcp engine stop mid-save: last save served {recovered - restarted:.2f} s "
            "after start"
        )
    finally:
        up.kill()


def test_a_save_held_through_a_tcp_outage_is_rebuilt_once_not_synced_again(
    tcp_engine: PrivateEngine, tcp_project: Sample
) -> None:
    """code_action = "sync-restart" over TCP; a save while dockerd is stopped. When it is
    back, the stopped container is replaced by a rebuild that takes the save up, and the
    save's sync-restart, folded in behind it, is not done again (it restarted the new
    container a second time)."""
    tcp_project.write(
        "devd.toml",
        tcp_project.devd_toml(
            tcp_project.port, NO_BUILD_NETWORK + 'code_action = "sync-restart"\n'
        ),
    )
    up = UpProcess(tcp_project.root)
    try:
        up.wait_event("running", service="app", timeout=60)
        serving(tcp_engine, tcp_project, "version-1")
        tcp_engine.stop()
        up.wait_event(LOST, timeout=30)
        tcp_project.write("www/index.html", "during the outage\n")
        time.sleep(1.0)
        tcp_engine.start()
        up.wait_event("engine back", timeout=30)
        serving(tcp_engine, tcp_project, "during the outage")
        time.sleep(2.0)  # a second restart would come now
        one_container(tcp_engine, tcp_project)
        assert len(up.named("running")) == 2, up.summary()
        assert not up.named("synced"), up.summary()
        tcp_project.write("www/index.html", "after\n")
        serving(tcp_engine, tcp_project, "after")
        up.wait_event("synced", trigger="www/index.html (code)", timeout=30)
    finally:
        up.kill()
