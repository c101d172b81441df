"""``devd up`` end to end: real file edits, the real engine, what the container serves.

The sample app loads its page at start (it copies www/ aside and serves the copy), so new
content can only come from a new or restarted container, as with a Python app's code.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import project_images, remove_project, running_containers
from tests.updriver import (
    SAMPLE_DOCKERFILE,
    Sample,
    UpProcess,
    fetch,
    free_port,
    run_devd,
    served,
    wait_for,
)

pytestmark = pytest.mark.engine


def test_code_save_is_served_with_only_code_layers_rebuilt(sample: Sample, up: UpProcess) -> None:
    """A code save rebuilds only the COPY after the RUN, and the new content is served."""
    served(sample.port, "version-1")
    up.wait_event("running", service="app")
    sample.write("www/index.html", "version-2\n")
    served(sample.port, "version-2")
    event = up.wait_event("running", count=2)
    assert event["kind"] == "code"
    assert event["rebuilt"][0] == "COPY www/ /app/www/", event
    assert not [step for step in event["rebuilt"] if step.startswith("RUN")], event
    assert "www/index.html" in event["trigger"]
    assert event["total_s"] > 0


@pytest.mark.parametrize("builder", ["classic", "buildkit"])
def test_each_builder_serves_code_and_dependency_saves_and_status_names_it(
    sample: Sample, builder: str
) -> None:
    """Pinned to either builder, devd up serves a code save (the old container stopped early
    while the image is written: label steps, or BuildKit's export) and a dependency save (the
    RUN re-runs); the start line and devd status name the builder."""
    sample.write("devd.toml", sample.devd_toml(sample.port, f'builder = "{builder}"\n'))
    up = UpProcess(sample.root)
    try:
        served(sample.port, "version-1")
        assert up.wait_event("watching")["builders"] == {"app": builder}
        sample.write("www/index.html", "version-2\n")
        served(sample.port, "version-2")
        code = up.wait_event("running", count=2)
        assert (code["kind"], code["rebuilt"][0]) == ("code", "COPY www/ /app/www/"), code
        assert not [step for step in code["rebuilt"] if step.startswith("RUN")], code
        sample.write("deps.txt", "deps-2\n")
        served(sample.port, "deps-2", path="/deps.txt")
        dependency = up.wait_event("running", count=3)
        assert [s.split()[0] for s in dependency["rebuilt"]][:3] == ["COPY", "RUN", "COPY"]
        status = run_devd(sample.root, "status")
        assert status.returncode == 0, status.stderr
        assert f" {builder} " in status.stdout.splitlines()[1], status.stdout
    finally:
        assert up.stop() == 0


def test_dependency_change_reruns_install_and_is_served(sample: Sample, up: UpProcess) -> None:
    """A change to the file before the RUN re-runs it; the new dependency state is served."""
    served(sample.port, "version-1")
    sample.write("deps.txt", "deps-2\n")
    wait_for(lambda: "deps-2" in (fetch(sample.port, "/deps.txt") or ""), 30, "deps-2 served")
    event = up.wait_event("running", count=2)
    assert event["kind"] == "dependency"
    assert any(step.startswith("RUN") for step in event["rebuilt"]), event


def test_dockerfile_change_is_reread_and_rebuilt(sample: Sample, up: UpProcess) -> None:
    """Editing the Dockerfile re-reads it and rebuilds with the new definition."""
    served(sample.port, "version-1")
    sample.write(
        "Dockerfile",
        SAMPLE_DOCKERFILE.replace("cp /deps.txt /srv/deps.txt", "echo new-cmd > /srv/deps.txt"),
    )
    wait_for(lambda: fetch(sample.port, "/deps.txt") == "new-cmd\n", 30, "new CMD served")
    assert up.wait_event("running", count=2)["kind"] == "dockerfile"


def test_ignored_and_excluded_files_do_not_restart(
    sample: Sample, up: UpProcess, docker_client: Any
) -> None:
    """Editor temp files, excluded files and files no COPY reads leave the container alone."""
    served(sample.port, "version-1")
    before = [c.id for c in running_containers(docker_client, sample.name)]
    sample.write("www/.index.html.swp", "swap")
    sample.write("www/debug.log", "log")
    sample.write("secrets/key", "k")
    sample.write("notes.md", "n")
    time.sleep(1.5)
    assert up.named("building") == [up.named("building")[0]]  # only the start-up build
    assert [c.id for c in running_containers(docker_client, sample.name)] == before


def test_burst_of_1000_writes_gives_one_rebuild(sample: Sample, up: UpProcess) -> None:
    """A burst (a git checkout) is one batch: exactly one rebuild, ending on the last state.
    Unless the writer itself paused for the quiet period (50 ms; a loaded machine, as in CI
    once): each such pause may close a batch, and so start one more build, nothing else may."""
    served(sample.port, "version-1")
    up.wait_event("running")
    pauses, last = 0, time.monotonic()
    for number in range(1001):
        if number < 1000:
            sample.write(f"www/page{number % 100}.html", f"page {number}\n")
        else:
            sample.write("www/index.html", "after-burst\n")
        now = time.monotonic()
        pauses += now - last >= 0.05 * 0.8  # a little early: timers are coarse
        last = now
    served(sample.port, "after-burst")
    time.sleep(1.0)
    assert 2 <= len(up.named("building")) <= 2 + pauses, f"{pauses} pause(s): {up.summary()}"
    assert "page 999" in (fetch(sample.port, "/page99.html") or "")


def test_broken_build_keeps_old_container_then_fix_is_served(sample: Sample, up: UpProcess) -> None:
    """A failing build leaves the old container serving; the fix is then built and served."""
    served(sample.port, "version-1")
    sample.write("deps.txt", "BROKEN\n")
    failure = up.wait_event("build failed; previous container still running")
    assert "RUN" in str(failure.get("step"))
    assert "version-1" in (fetch(sample.port) or "")
    sample.write("deps.txt", "deps-fixed\n")
    wait_for(lambda: "deps-fixed" in (fetch(sample.port, "/deps.txt") or ""), 30, "fix served")


def test_crashing_container_is_reported_without_restart_loop(sample: Sample, up: UpProcess) -> None:
    """A container that exits right after start is reported with its exit code, once."""
    served(sample.port, "version-1")
    sample.write("www/crash", "yes")
    event = up.wait_event("container exited; not restarting it (save a change to rebuild)")
    assert event["exit_code"] == 3
    assert any("crashing" in line for line in event["last_lines"])
    time.sleep(1.5)
    assert len(up.named("running")) == 2
    (sample.root / "www/crash").unlink()
    served(sample.port, "version-1")


def test_ctrl_c_stops_containers_and_exits_zero(
    sample: Sample, up: UpProcess, docker_client: Any
) -> None:
    """Ctrl-C (SIGINT) stops the project's containers and devd exits with 0."""
    served(sample.port, "version-1")
    assert up.stop(signal.SIGINT) == 0
    assert running_containers(docker_client, sample.name) == []


def test_sigterm_exits_zero(sample: Sample, up: UpProcess, docker_client: Any) -> None:
    """SIGTERM ends devd up like Ctrl-C: containers stopped, exit 0."""
    served(sample.port, "version-1")
    assert up.stop(signal.SIGTERM) == 0
    assert running_containers(docker_client, sample.name) == []


def test_second_up_is_refused(sample: Sample, up: UpProcess) -> None:
    """A second devd up on the same project refuses with a clear message; the first goes on."""
    served(sample.port, "version-1")
    second = run_devd(sample.root, "up", timeout=30)
    assert second.returncode == 2
    assert "already running" in second.stderr
    assert "version-1" in (fetch(sample.port) or "")
    assert up.process.poll() is None


def test_leftover_container_of_killed_devd_is_not_duplicated(
    sample: Sample, docker_client: Any
) -> None:
    """After kill -9 of devd up, the next devd up adopts or replaces its container: one remains."""
    first = UpProcess(sample.root)
    try:
        served(sample.port, "version-1")
    finally:
        first.kill()
    second = UpProcess(sample.root)
    try:
        served(sample.port, "version-1")
        second.wait_event("watching")
        wait_for(
            lambda: second.named("running") or second.named("image unchanged; container kept"),
            30,
            "start",
        )
        containers = docker_client.containers.list(
            all=True, filters={"label": f"devd.project={sample.name}"}
        )
        assert len(containers) == 1
    finally:
        assert second.stop() == 0


def test_sync_restart_copies_files_and_restarts(
    tmp_path: Path, test_id: str, docker_client: Any, busybox_image: str
) -> None:
    """code_action = sync-restart: the saved file is copied in and the container restarted."""
    sample = Sample(tmp_path / "proj", f"t{test_id}", free_port(), code_action="sync-restart")
    up = UpProcess(sample.root)
    try:
        served(sample.port, "version-1")
        sample.write("www/index.html", "synced\n")
        served(sample.port, "synced")
        event = up.wait_event("synced")
        assert event["restarted"] is True
        assert len(up.named("building")) == 1
    finally:
        up.kill()
        remove_project(docker_client, sample.name)


def test_sync_copies_files_into_the_running_container(
    tmp_path: Path, test_id: str, docker_client: Any, busybox_image: str
) -> None:
    """code_action = sync: files land where the Dockerfile's COPY puts them; no restart."""
    sample = Sample(tmp_path / "proj", f"t{test_id}", free_port(), code_action="sync")
    up = UpProcess(sample.root)
    try:
        served(sample.port, "version-1")
        container = running_containers(docker_client, sample.name)[0]
        sample.write("www/index.html", "live\n")
        up.wait_event("synced")
        output = container.exec_run(["cat", "/app/www/index.html"]).output.decode()
        assert output.startswith("live ")
        assert running_containers(docker_client, sample.name)[0].id == container.id
    finally:
        up.kill()
        remove_project(docker_client, sample.name)


def test_down_and_clean_leave_foreign_containers_alone(
    sample: Sample, docker_client: Any, busybox_image: str
) -> None:
    """devd down and clean remove this project's containers, anchors and images, nothing
    else; devd up's exit stops the anchor (its port is free), down removes it."""
    foreign = docker_client.containers.run(
        busybox_image, ["sleep", "300"], name=f"{sample.name}-app-foreign", detach=True
    )
    try:
        assert run_devd(sample.root, "build").returncode == 0
        up = UpProcess(sample.root)
        served(sample.port, "version-1")
        assert up.stop() == 0
        anchors = {"label": f"devd.anchor.project={sample.name}"}
        [anchor] = docker_client.containers.list(all=True, filters=anchors)
        assert anchor.status == "exited"
        assert run_devd(sample.root, "down").returncode == 0
        assert docker_client.containers.list(all=True, filters=anchors) == []
        assert (
            docker_client.containers.list(
                all=True, filters={"label": f"devd.project={sample.name}"}
            )
            == []
        )
        assert run_devd(sample.root, "clean").returncode == 0
        assert project_images(docker_client, sample.name) == []
        foreign.reload()
        assert foreign.status == "running"
        docker_client.images.get(busybox_image)
    finally:
        foreign.remove(force=True)


def test_foreign_container_holding_the_name_is_an_error(
    sample: Sample, docker_client: Any, busybox_image: str
) -> None:
    """A container devd did not create holding the name it wants: clear error, left untouched."""
    foreign = docker_client.containers.run(
        busybox_image, ["sleep", "300"], name=f"{sample.name}-app", detach=True
    )
    try:
        up = UpProcess(sample.root)
        try:
            event = up.wait_event("failed")
            assert f"{sample.name}-app" in event["error"]
        finally:
            up.stop()
        foreign.reload()
        assert foreign.status == "running"
    finally:
        foreign.remove(force=True)


def test_status_reports_container_and_last_build(sample: Sample, up: UpProcess) -> None:
    """devd status shows the service's container state and the last build's result."""
    served(sample.port, "version-1")
    result = run_devd(sample.root, "status")
    assert result.returncode == 0, result.stderr
    assert "running" in result.stdout
    assert "ok: " in result.stdout


def test_logs_prints_the_containers_output(sample: Sample, up: UpProcess) -> None:
    """devd logs SERVICE prints what the container printed, prefixed with the service."""
    served(sample.port, "version-1")
    sample.write("www/crash", "yes")
    up.wait_event("container exited; not restarting it (save a change to rebuild)")
    result = run_devd(sample.root, "logs", "app")
    assert result.returncode == 0, result.stderr
    assert '"line": "crashing"' in result.stdout


def test_rebuild_no_cache_is_done_by_the_running_up(sample: Sample, up: UpProcess) -> None:
    """devd rebuild --no-cache while devd up runs: up rebuilds every step and replaces."""
    served(sample.port, "version-1")
    up.wait_event("running")
    result = run_devd(sample.root, "rebuild", "--no-cache")
    assert result.returncode == 0, result.stderr
    event = up.wait_event("running", count=2)
    assert event["trigger"] == "rebuild without cache"
    # Every COPY and RUN again (FROM only looks its base up; BuildKit also keeps WORKDIR's mkdir).
    assert [step.split()[0] for step in event["rebuilt"]] == ["COPY", "RUN", "COPY"], event
    served(sample.port, "version-1")


def test_rebuild_without_up_replaces_the_container(sample: Sample, docker_client: Any) -> None:
    """devd rebuild with no devd up running builds and replaces the container by itself."""
    first = run_devd(sample.root, "rebuild")
    assert first.returncode == 0, first.stderr
    served(sample.port, "version-1")
    before = running_containers(docker_client, sample.name)[0].id
    sample.write("www/index.html", "version-2\n")
    second = run_devd(sample.root, "rebuild")
    assert second.returncode == 0, second.stderr
    served(sample.port, "version-2")
    assert [c.id for c in running_containers(docker_client, sample.name)] != [before]


def test_unreachable_engine_is_one_line_and_exit_2(
    sample: Sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no engine at DOCKER_HOST, devd up says where it looked, in one line, exit 2."""
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
    result = run_devd(sample.root, "up", timeout=30)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "tcp://127.0.0.1:1" in lines[0]
    assert "DOCKER_HOST" in lines[0]


def test_a_tree_the_ignore_file_excludes_gets_no_inotify_watch(sample: Sample) -> None:
    """devd up prunes: 300 directories under the excluded secrets/ cost no watch (counted
    in the kernel's own list, /proc/PID/fdinfo), yet a save elsewhere is still served."""
    for number in range(300):
        (sample.root / "secrets" / f"d{number}").mkdir(parents=True)
    up = UpProcess(sample.root)
    try:
        served(sample.port, "version-1")
        up.wait_event("watching")
        fdinfo = Path(f"/proc/{up.process.pid}/fdinfo")
        watches = sum(
            entry.read_text().count("inotify wd:") for entry in fdinfo.iterdir() if entry.is_file()
        )
        assert 0 < watches < 20
        sample.write("www/index.html", "still-watched\n")
        served(sample.port, "still-watched")
    finally:
        assert up.stop() == 0


@pytest.mark.parametrize("code_action", ["sync", "rebuild"])
def test_a_file_the_ignore_file_excludes_never_reaches_the_container(
    tmp_path: Path, test_id: str, docker_client: Any, busybox_image: str, code_action: str
) -> None:
    """A secret saved beside code, under a directory a COPY reads but matched by the ignore
    file (**/*.log): the code change arrives, the secret is neither synced nor in the image."""
    sample = Sample(tmp_path / "proj", f"t{test_id}", free_port(), code_action=code_action)
    (sample.root / "www" / "token.log").write_text("secret-at-start\n")
    up = UpProcess(sample.root)
    try:
        served(sample.port, "version-1")
        sample.write("www/token.log", "secret-saved")
        sample.write("www/index.html", "with-secret-beside\n")
        if code_action == "rebuild":
            served(sample.port, "with-secret-beside")
        container = running_containers(docker_client, sample.name)[0]
        wait_for(
            lambda: (
                "with-secret-beside"
                in container.exec_run(["cat", "/app/www/index.html"]).output.decode()
            ),
            30,
            "the code change in the container",
        )
        listing = container.exec_run(["ls", "-a", "/app/www", "/srv"]).output.decode()
        assert "index.html" in listing
        assert "token.log" not in listing
    finally:
        up.kill()
        remove_project(docker_client, sample.name)


def test_after_a_failed_start_save_to_running_counts_from_the_fixing_save(
    sample: Sample, docker_client: Any
) -> None:
    """The first build fails (a broken deps.txt); some seconds later the fix is saved. The
    cycle line's save->running (total_s) counts from that save, not from the failed start
    (it said the seconds since devd up began)."""
    sample.write("deps.txt", "BROKEN\n")
    up = UpProcess(sample.root)
    try:
        up.wait_event("build failed", timeout=60)
        time.sleep(4.0)
        sample.write("deps.txt", "deps-fixed\n")
        running = up.wait_event("running", timeout=60)
        served(sample.port, "version-1")
        assert running["total_s"] < 3.0, running
    finally:
        up.kill()
