"""devd.containers (through Engine): running, replacing, syncing and logging containers, and
the project's images, on the real engine.

Each test runs under its own project name ``t<test id>``; everything it makes carries that
project's labels or the test's ``devd.test`` label, and is removed when it ends.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import posixpath
import socket
import threading
import time
import tracemalloc
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest

from devd.config import PortMapping
from devd.engine.container_spec import image_labels
from devd.engine.context import build_context
from devd.engine.engine import (
    LABEL_PROJECT,
    LABEL_SERVICE,
    ContainerSpec,
    Engine,
    owner_labels,
)
from devd.errors import (
    BuildFailed,
    ContainerStartFailed,
    EngineUnavailable,
    ForeignContainer,
    SyncRefused,
)

pytestmark = pytest.mark.engine

SLEEP = ("sleep", "1000")
HTTPD = ("httpd", "-f", "-p", "8000", "-h", "/www")
INDEX = "hello from devd\n"

SpecMaker = Callable[..., ContainerSpec]


# --- fixtures and helpers --------------------------------------------------------------------


def _remove_labelled(client: Any, label: str) -> None:
    """Remove every container, then every image, carrying ``label`` ("key=value")."""
    selector = {"label": label}
    for container in client.containers.list(all=True, filters=selector):
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)
    images = client.images.list(filters=selector)
    for image in sorted(images, key=lambda i: i.attrs["Created"], reverse=True):
        with contextlib.suppress(docker.errors.NotFound):
            client.images.remove(image.id, force=True)


@pytest.fixture
def project(test_id: str, image_tag: str, docker_client: Any) -> Iterator[str]:
    """The test's devd project name; afterwards removes what carries its label (``image_tag``
    removes what carries the test's ``devd.test`` label)."""
    name = f"t{test_id}"
    yield name
    _remove_labelled(docker_client, f"{LABEL_PROJECT}={name}")
    _remove_labelled(docker_client, f"devd.anchor.project={name}")
    for network in docker_client.networks.list(filters={"label": f"{LABEL_PROJECT}={name}"}):
        with contextlib.suppress(docker.errors.NotFound):
            network.remove()


@pytest.fixture(scope="module")
def web_image(
    engine: Engine, busybox_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """busybox with ``/www/index.html``, built once through Engine.build."""
    root = tmp_path_factory.mktemp("web")
    (root / "www").mkdir()
    (root / "www" / "index.html").write_text(INDEX)
    (root / "Dockerfile").write_text(f"FROM {busybox_image}\nCOPY www /www\n")
    module_id = uuid.uuid4().hex[:12]
    tag = f"devd-test-web-{module_id}:latest"
    with build_context(root, root / "Dockerfile", []) as context:
        engine.builds.build(
            context,
            tag=tag,
            labels={"devd.test": module_id},
            build_args={},
            target=None,
            no_cache=False,
        )
    yield tag
    _remove_labelled(engine.client, f"devd.test={module_id}")


@pytest.fixture
def make_spec(project: str, web_image: str, test_labels: dict[str, str]) -> SpecMaker:
    """ContainerSpec factory: service "app" of the test's project, running ``sleep 1000``
    from the web image, also labelled with the test's label."""

    def make(**changes: Any) -> ContainerSpec:
        fields: dict[str, Any] = {
            "project": project,
            "service": "app",
            "image": web_image,
            "command": SLEEP,
            "extra_labels": test_labels,
        }
        fields.update(changes)
        fields.setdefault("name", f"{fields['project']}-{fields['service']}")
        return ContainerSpec(**fields)

    return make


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def http_get(port: int, within: float = 10.0) -> str:
    """GET / on the host port, retrying while the server comes up."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + within
    while True:
        try:
            with opener.open(f"http://127.0.0.1:{port}/", timeout=2) as response:
                body: bytes = response.read()
                return body.decode()
        except (OSError, http.client.HTTPException):  # not up yet, or cut off mid-answer
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def sh(client: Any, container_id: str, script: str) -> tuple[int, str]:
    result = client.api.exec_create(container_id, ["sh", "-c", script])
    output: bytes = client.api.exec_start(result["Id"])
    code: int = client.api.exec_inspect(result["Id"])["ExitCode"]
    return code, output.decode()


class Collector:
    """Drains an iterator in a thread, so a test can bound how long it takes to end."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.lines: list[str] = []
        self.error: BaseException | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(lines,), daemon=True)
        self._thread.start()

    def _run(self, lines: Iterable[str]) -> None:
        try:
            for line in lines:
                self.lines.append(line)
        except BaseException as error:
            self.error = error
        finally:
            self._done.set()

    def wait_for(self, line: str, within: float = 10.0) -> None:
        deadline = time.monotonic() + within
        while line not in self.lines:
            assert time.monotonic() < deadline, f"no {line!r} in {self.lines}"
            time.sleep(0.05)

    def finish(self, within: float = 10.0) -> list[str]:
        assert self._done.wait(within), f"the log stream did not end within {within} s"
        self._thread.join()
        if self.error is not None:
            raise self.error
        return self.lines


# --- replacing -------------------------------------------------------------------------------


def test_replace_container_serves_http_on_the_published_port(
    engine: Engine, make_spec: SpecMaker, docker_client: Any, test_labels: dict[str, str]
) -> None:
    """replace_container starts a running container, labelled owner_labels + extra_labels,
    under docker-init, with its environment, reachable from the host on the published port."""
    port = free_port()
    spec = make_spec(
        command=HTTPD, ports=(PortMapping(port, 8000),), environment={"GREETING": "hi"}
    )
    info = engine.containers.replace(spec)
    assert (info.name, info.service, info.status) == (spec.name, "app", "running")
    assert info.exit_code is None
    assert info.started_at is not None
    assert info.image_id == engine.images.id_of(spec.image)
    assert http_get(port) == INDEX
    attrs = docker_client.api.inspect_container(info.id)
    assert attrs["Config"]["Labels"] == {**test_labels, **owner_labels(spec.project, "app")}
    assert attrs["HostConfig"]["Init"] is True
    assert "GREETING=hi" in attrs["Config"]["Env"]


def test_replacing_twice_leaves_exactly_one_container(
    engine: Engine, make_spec: SpecMaker, project: str
) -> None:
    """A second replace_container stops and removes the first container: one remains."""
    first = engine.containers.replace(make_spec())
    second = engine.containers.replace(make_spec())
    assert second.id != first.id
    assert [info.id for info in engine.containers.of_project(project)] == [second.id]
    assert engine.containers.get(first.id) is None
    assert not engine.transport.remembers(first.id)  # a removed container is forgotten
    assert engine.transport.remembers(second.id)


def test_replace_removes_the_services_container_under_another_name(
    engine: Engine, make_spec: SpecMaker, project: str
) -> None:
    """A container labelled with the project and service is replaced even when its name
    differs from the spec's (one made before the naming changed)."""
    old = engine.containers.replace(make_spec(name=f"{project}-old-name"))
    new = engine.containers.replace(make_spec())
    assert [info.id for info in engine.containers.of_project(project)] == [new.id]
    assert engine.containers.get(old.id) is None


def test_foreign_container_holding_the_name_is_left_alone(
    engine: Engine,
    make_spec: SpecMaker,
    docker_client: Any,
    busybox_image: str,
    test_labels: dict[str, str],
) -> None:
    """A container devd did not create holding the name: ForeignContainer (exit code 2)
    naming it, and it keeps running; stop/remove/restart/put_files refuse it too."""
    spec = make_spec()
    foreign = docker_client.containers.run(
        busybox_image, list(SLEEP), name=spec.name, labels=test_labels, detach=True, init=True
    )
    with pytest.raises(ForeignContainer) as caught:
        engine.containers.replace(spec)
    message = str(caught.value)
    assert spec.name in message
    assert "did not create" in message
    assert "\n" not in message
    assert caught.value.exit_code == 2
    for touch in (
        lambda: engine.containers.stop(foreign.id, 1),
        lambda: engine.containers.remove(foreign.id),
        lambda: engine.containers.restart(foreign.id, 1),
        lambda: engine.files.put(foreign.id, {"/tmp": None}),
    ):
        with pytest.raises(ForeignContainer):
            touch()
    foreign.reload()
    assert foreign.status == "running"
    assert sh(docker_client, foreign.id, "test -d /tmp")[0] == 0


def test_container_of_another_project_holding_the_name_raises_foreign_container(
    engine: Engine, make_spec: SpecMaker, test_id: str
) -> None:
    """Another devd project's container with the same name is not ours either: the message
    names its project, and it keeps running."""
    spec = make_spec()
    other_project = f"o{test_id}"
    other = engine.containers.replace(make_spec(project=other_project, name=spec.name))
    with pytest.raises(ForeignContainer, match=f"devd project '{other_project}'"):
        engine.containers.replace(spec)
    still = engine.containers.get(other.id)
    assert still is not None
    assert still.status == "running"


def test_port_held_by_a_host_program_fails_the_start_naming_the_port(
    engine: Engine, make_spec: SpecMaker, project: str
) -> None:
    """A host port already bound ("address already in use"): ContainerStartFailed naming the
    port, and the half-made container is removed."""
    with socket.create_server(("0.0.0.0", 0)) as holder:
        port = holder.getsockname()[1]
        with pytest.raises(ContainerStartFailed) as caught:
            engine.containers.replace(make_spec(ports=(PortMapping(port, 8000),)))
    assert f"host port {port} is already in use" in str(caught.value)
    assert caught.value.exit_code == 1
    assert engine.containers.of_project(project) == []


def test_port_held_by_another_container_fails_the_start_naming_the_port(
    engine: Engine, make_spec: SpecMaker, project: str
) -> None:
    """A host port another container publishes ("port is already allocated"):
    ContainerStartFailed naming the port; the other service's container is untouched."""
    port = free_port()
    web = engine.containers.replace(make_spec(service="web", ports=(PortMapping(port, 8000),)))
    with pytest.raises(ContainerStartFailed, match=f"host port {port} is already in use"):
        engine.containers.replace(make_spec(ports=(PortMapping(port, 8000),)))
    assert [info.id for info in engine.containers.of_project(project)] == [web.id]


def test_containers_lists_only_the_projects_containers(
    engine: Engine, make_spec: SpecMaker, project: str, test_id: str
) -> None:
    """containers(project) lists that project's containers, stopped ones included, and
    containers(project, service) that service's only."""
    app = engine.containers.replace(make_spec(command=("true",)))
    web = engine.containers.replace(make_spec(service="web"))
    engine.containers.replace(make_spec(project=f"o{test_id}"))
    engine.containers.wait(app.id, timeout=10)
    listed = engine.containers.of_project(project)
    assert [(info.id, info.service) for info in listed] == [(app.id, "app"), (web.id, "web")]
    assert (listed[0].status, listed[0].exit_code) == ("exited", 0)
    assert [info.id for info in engine.containers.of_project(project, "web")] == [web.id]
    assert engine.containers.of_project(f"n{test_id}") == []


# --- stopping and restarting -----------------------------------------------------------------


def test_stop_is_quick_under_init_and_quiet_when_repeated_or_gone(
    engine: Engine, make_spec: SpecMaker
) -> None:
    """``sleep`` as the command would ignore SIGTERM as PID 1; under docker-init it dies on it:
    stop with timeout 10 takes under 3 s. Stopping again, or once removed, is no error."""
    info = engine.containers.replace(make_spec())
    started = time.monotonic()
    engine.containers.stop(info.id, 10)
    assert time.monotonic() - started < 3
    stopped = engine.containers.get(info.id)
    assert stopped is not None
    assert stopped.status == "exited"
    engine.containers.stop(info.id, 10)
    engine.containers.remove(info.id)
    assert engine.containers.get(info.id) is None
    engine.containers.stop(info.id, 10)
    engine.containers.remove(info.id)


def test_stop_kills_a_process_ignoring_sigterm_after_the_timeout(
    engine: Engine, make_spec: SpecMaker
) -> None:
    """A process that ignores SIGTERM is killed once the timeout has passed: stop is bounded."""
    info = engine.containers.replace(make_spec(command=("sh", "-c", "trap '' TERM; sleep 1000")))
    started = time.monotonic()
    engine.containers.stop(info.id, 1)
    assert 0.9 < time.monotonic() - started < 5
    stopped = engine.containers.get(info.id)
    assert stopped is not None
    assert stopped.exit_code == 137


def test_restart_container_starts_it_again(engine: Engine, make_spec: SpecMaker) -> None:
    """restart_container keeps the container (same id) and gives it a new start time. A
    stream followed before the restart ends; one followed after it starts with the new run.
    (The old stream may end with the new run's first lines: the engine drains the log file
    to its end after the run stops, and the new run may have written to it already.)"""
    script = "echo run $(cat /runs 2>/dev/null); echo x >> /runs; sleep 1000"
    info = engine.containers.replace(make_spec(command=("sh", "-c", script)))
    first = Collector(engine.logs.follow(info.id))
    first.wait_for("run")
    restarted = engine.containers.restart(info.id, 10)
    assert restarted.id == info.id
    assert restarted.status == "running"
    assert restarted.started_at is not None
    assert restarted.started_at != info.started_at
    assert first.finish(within=5)[0] == "run"
    second = Collector(engine.logs.follow(info.id))
    second.wait_for("run x")
    engine.containers.stop(info.id, 10)
    assert second.finish(within=5) == ["run x"]
    assert engine.logs.tail(info.id) == ["run", "run x"]


def test_wait_container_gives_the_exit_code_or_none_on_timeout(
    engine: Engine, make_spec: SpecMaker
) -> None:
    """wait_container returns the exit code; with a timeout that passes first, None."""
    sleeper = engine.containers.replace(make_spec())
    started = time.monotonic()
    assert engine.containers.wait(sleeper.id, timeout=0.5) is None
    assert time.monotonic() - started < 3
    failing = engine.containers.replace(make_spec(service="job", command=("sh", "-c", "exit 3")))
    assert engine.containers.wait(failing.id, timeout=10) == 3


# --- logs ------------------------------------------------------------------------------------


def test_follow_logs_yields_lines_and_ends_when_the_container_stops(
    engine: Engine, make_spec: SpecMaker
) -> None:
    """follow_logs yields stdout and stderr lines, decoded, from the container's start, and
    ends when it stops. A line longer than the engine's 16 KiB pieces comes whole (stderr
    entries can arrive between its pieces), and so does output left without a final newline
    at exit (which the engine logs after ending the followed stream)."""
    script = (
        "echo one; echo two >&2; echo 'h\u00e9llo'; head -c 20000 /dev/zero | tr '\\0' a; "
        "echo; echo err >&2; sleep 1; printf three"
    )
    info = engine.containers.replace(make_spec(command=("sh", "-c", script)))
    lines = Collector(engine.logs.follow(info.id)).finish()
    assert sorted(lines[:5]) == sorted(["one", "two", "h\u00e9llo", "a" * 20000, "err"])
    assert lines[5:] == ["three"]
    assert engine.logs.tail(info.id, 2)[-1] == "three"


def test_follow_logs_ends_when_the_container_is_removed(
    engine: Engine, make_spec: SpecMaker
) -> None:
    """A followed container being removed ends the iterator instead of hanging it; following
    one that is gone ends at once."""
    info = engine.containers.replace(make_spec(command=("sh", "-c", "echo ready; sleep 1000")))
    collector = Collector(engine.logs.follow(info.id))
    collector.wait_for("ready")
    engine.containers.remove(info.id)
    assert collector.finish(within=5) == ["ready"]
    assert list(engine.logs.follow(info.id)) == []


def test_tail_logs_gives_the_last_lines(engine: Engine, make_spec: SpecMaker) -> None:
    """tail_logs returns the last N lines; [] for a container that is gone."""
    info = engine.containers.replace(make_spec(command=("seq", "1", "30")))
    assert engine.containers.wait(info.id, timeout=10) == 0
    assert engine.logs.tail(info.id, 5) == ["26", "27", "28", "29", "30"]
    assert len(engine.logs.tail(info.id)) == 20
    engine.containers.remove(info.id)
    assert engine.logs.tail(info.id) == []


# --- syncing files ---------------------------------------------------------------------------


@pytest.fixture
def running(engine: Engine, make_spec: SpecMaker) -> str:
    """The id of a running ``sleep 1000`` container of the test's project."""
    return engine.containers.replace(make_spec()).id


def test_put_files_copies_content_mode_and_symlinks_in_one_archive(
    engine: Engine, running: str, docker_client: Any, tmp_path: Path
) -> None:
    """put_files writes each file's content and mode, creating missing parent directories
    without changing existing ones (/tmp keeps mode 1777), copies a symlink as a link (its
    target is not read), and overwrites on the next sync."""
    code = tmp_path / "app.py"
    code.write_text("v1\n")
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\necho ran\n")
    script.chmod(0o750)
    secret = tmp_path / "secret"
    secret.write_text("host only\n")
    link = tmp_path / "link"
    link.symlink_to(secret)
    calls: list[str] = []
    original = docker_client.api.put_archive

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[1])
        return original(*args, **kwargs)

    docker_client.api.put_archive = counting
    try:
        engine.files.put(
            running,
            {
                "/app/app.py": code,
                "/app/new/deep/run.sh": script,
                "/app/link": link,
                "/tmp/sub/app.py": code,
            },
        )
    finally:
        del docker_client.api.put_archive
    assert calls == ["/"]
    assert sh(docker_client, running, "cat /app/app.py /tmp/sub/app.py") == (0, "v1\nv1\n")
    assert sh(docker_client, running, "/app/new/deep/run.sh") == (0, "ran\n")
    assert sh(docker_client, running, "stat -c %a /app/new/deep/run.sh /tmp") == (
        0,
        "750\n1777\n",
    )
    assert sh(docker_client, running, "readlink /app/link") == (0, f"{secret}\n")
    assert sh(docker_client, running, "cat /app/link")[0] != 0
    code.write_text("v2\n")
    engine.files.put(running, {"/app/app.py": code})
    assert sh(docker_client, running, "cat /app/app.py") == (0, "v2\n")


def test_put_files_deletes_paths_given_none_or_whose_host_file_is_gone(
    engine: Engine, running: str, docker_client: Any, tmp_path: Path
) -> None:
    """None deletes the container path (directories too); a host file that no longer exists
    counts as deleted; deletions happen before copies in the same call."""
    kept = tmp_path / "kept.txt"
    kept.write_text("kept\n")
    engine.files.put(running, {"/app/a.txt": kept, "/app/dir/b.txt": kept, "/app/c.txt": kept})
    engine.files.put(
        running,
        {"/app/a.txt": None, "/app/dir": None, "/app/c.txt": tmp_path / "missing"},
    )
    assert sh(docker_client, running, "ls -A /app") == (0, "")
    engine.files.put(running, {"/app/dir": None, "/app/dir/new.txt": kept})
    assert sh(docker_client, running, "cat /app/dir/new.txt") == (0, "kept\n")


def test_put_files_never_reads_through_a_symlinked_directory(
    engine: Engine, running: str, docker_client: Any, tmp_path: Path
) -> None:
    """A changed path under a host directory that is (now) a symlink, to outside the
    project or back into it, is not read through the link: the image would not have it
    either (the context holds the link), so the container path is deleted; the link itself
    is copied as a link."""
    project, outside = tmp_path / "project", tmp_path / "outside"
    (outside / "www").mkdir(parents=True)
    (outside / "www" / "index.html").write_text("outside the project\n")
    (project / "www").mkdir(parents=True)
    (project / "www" / "index.html").write_text("inside\n")
    engine.files.put(running, {"/app/www/index.html": project / "www" / "index.html"})
    (project / "www" / "index.html").unlink()
    (project / "www").rmdir()
    (project / "www").symlink_to(outside / "www")
    engine.files.put(
        running,
        {"/app/www/index.html": project / "www" / "index.html", "/app/wwwlink": project / "www"},
    )
    assert sh(docker_client, running, "ls /app/www") == (0, "")
    assert sh(docker_client, running, "readlink /app/wwwlink") == (0, f"{outside / 'www'}\n")


def test_put_files_copies_a_big_file_without_holding_it_in_memory(
    engine: Engine, running: str, docker_client: Any, tmp_path: Path
) -> None:
    """A 300 MiB file (sparse) is synced whole, copied through a temporary file in chunks:
    devd's own allocations stay far below its size."""
    big = tmp_path / "big.bin"
    with open(big, "wb") as handle:
        handle.truncate(300 * 2**20)
        handle.write(b"head")
    tracemalloc.start()
    try:
        engine.files.put(running, {"/app/big.bin": big, "/app/small.txt": big.with_name("s")})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20
    assert sh(docker_client, running, "stat -c %s /app/big.bin; head -c 4 /app/big.bin") == (
        0,
        f"{300 * 2**20}\nhead",
    )
    engine.files.put(running, {"/app/big.bin": None})


@pytest.mark.parametrize(
    "path",
    ["app/x.py", "../etc/passwd", "/app/../etc/passwd", "/app/./../../x", "/", "//", ""],
)
def test_put_files_refuses_relative_and_escaping_paths(
    engine: Engine, path: str, tmp_path: Path
) -> None:
    """A container path that is relative, contains "..", or names "/" is refused before the
    engine is asked anything (the container id here does not even exist)."""
    host = tmp_path / "f"
    host.write_text("x")
    with pytest.raises(SyncRefused) as caught:
        engine.files.put("devd-no-such-container", {"/app/ok.txt": host, path: host})
    assert caught.value.exit_code == 2


def test_put_files_skips_a_host_directory(engine: Engine, running: str, tmp_path: Path) -> None:
    """A host path that is neither a regular file nor a symlink is skipped, not walked."""
    result = engine.files.put(running, {"/app": tmp_path})
    assert result.changed == 0
    [skipped] = result.skipped
    assert (skipped.path, skipped.host) == ("/app", tmp_path)
    assert "neither a regular file nor a symlink" in skipped.reason


# A file root cannot read either: a write-only sysctl (the kernel checks its mode for root too).
UNREADABLE = Path("/proc/sys/vm/drop_caches")


def test_put_files_skips_a_file_it_cannot_read_and_syncs_the_rest(
    engine: Engine, running: str, docker_client: Any, tmp_path: Path
) -> None:
    """In one batch: a file that cannot be read, a FIFO, a file that vanished since the save
    and one to copy. The unreadable file and the FIFO are skipped with a reason each, the
    vanished one is deleted in the container, the rest copied; the same files unchanged are
    neither read nor reported again."""
    try:
        UNREADABLE.read_bytes()
    except PermissionError:
        pass
    else:
        pytest.skip(f"{UNREADABLE} is readable here")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    saved = tmp_path / "saved.txt"
    saved.write_text("saved\n")
    engine.files.put(running, {"/app/gone.txt": saved})
    files = {
        "/app/unreadable": UNREADABLE,
        "/app/fifo": fifo,
        "/app/gone.txt": tmp_path / "vanished",
        "/app/saved.txt": saved,
    }
    result = engine.files.put(running, files)
    assert result.changed == 2
    reasons = {skipped.path: skipped.reason for skipped in result.skipped}
    assert reasons.keys() == {"/app/unreadable", "/app/fifo"}
    assert "Permission denied" in reasons["/app/unreadable"]
    assert "neither a regular file nor a symlink" in reasons["/app/fifo"]
    assert sh(docker_client, running, "ls -A /app; cat /app/saved.txt") == (0, "saved.txt\nsaved\n")
    assert engine.files.put(running, files).skipped == ()


# links a container may hold on the way to a synced path: absolute, to a directory it does
# not have, relative, and the top directory itself
LINKS = [
    ("/app/cfg", "/etc"),
    ("/app/cfg", "/no/such/dir"),
    ("/app/cfg", "../etc"),
    ("/app", "/etc"),
]


@pytest.mark.parametrize(("link", "target"), LINKS)
def test_put_files_never_writes_or_deletes_through_a_symlink_in_the_container(
    engine: Engine, running: str, docker_client: Any, tmp_path: Path, link: str, target: str
) -> None:
    """A directory on the way to a synced path that is a symlink in the container, wherever
    it points: put_files refuses in one line naming it, before touching anything (no copy,
    no deletion through it, nothing else of the batch). With the link gone (what a rebuild
    gives), the same batch syncs into a real directory."""
    host = tmp_path / "motd"
    host.write_text("X\n")
    setup = (
        f"echo kept > /etc/devd-kept && mkdir -p {posixpath.dirname(link)} && ln -s {target} {link}"
    )
    assert sh(docker_client, running, setup) == (0, "")
    before = sh(docker_client, running, "ls -lA /etc")
    batch: dict[str, Path | None] = {
        "/app/cfg/motd": host,
        "/app/cfg/devd-kept": None,
        "/app/cfg/new/deep.txt": host,
        "/app/ok.txt": host,
    }
    with pytest.raises(SyncRefused) as refused:
        engine.files.put(running, batch)
    message = str(refused.value)
    assert "\n" not in message
    assert f"{link} is a symlink in container {running[:12]}" in message
    assert sh(docker_client, running, "ls -lA /etc") == before
    assert sh(docker_client, running, "cat /etc/devd-kept") == (0, "kept\n")
    assert sh(docker_client, running, "test -e /app/ok.txt")[0] != 0
    assert sh(docker_client, running, f"rm {link} && mkdir -p /app/cfg") == (0, "")
    engine.files.put(running, batch)
    script = "cat /app/cfg/motd /app/cfg/new/deep.txt /app/ok.txt"
    assert sh(docker_client, running, script) == (0, "X\nX\nX\n")


def test_put_files_replaces_a_symlink_at_the_path_itself(
    engine: Engine, running: str, docker_client: Any, tmp_path: Path
) -> None:
    """A synced path that is itself a symlink in the container is replaced by the file (the
    engine's unpacking removes it first), never written through: nothing to refuse."""
    host = tmp_path / "app.py"
    host.write_text("mine\n")
    assert sh(docker_client, running, "mkdir /app && ln -s /etc/passwd /app/app.py") == (0, "")
    before = sh(docker_client, running, "cat /etc/passwd")
    engine.files.put(running, {"/app/app.py": host})
    assert sh(docker_client, running, "test -L /app/app.py || cat /app/app.py") == (0, "mine\n")
    assert sh(docker_client, running, "cat /etc/passwd") == before


# --- images ----------------------------------------------------------------------------------


def _build(engine: Engine, root: Path, tag: str, labels: Mapping[str, str], base: str) -> str:
    (root / "Dockerfile").write_text(f"FROM {base}\nCOPY f /f\n")
    with build_context(root, root / "Dockerfile", []) as context:
        result = engine.builds.build(
            context, tag=tag, labels=labels, build_args={}, target=None, no_cache=False
        )
    return result.image_id


def test_remove_project_images_removes_only_the_projects_images(
    engine: Engine,
    project: str,
    image_tag: str,
    test_labels: dict[str, str],
    busybox_image: str,
    tmp_path: Path,
) -> None:
    """images() lists the project's images, untagged ones included, and those an older devd
    labelled devd.project; remove_project_images removes exactly those (one built on another
    too, whatever the order) and leaves an image without devd's labels."""
    app_tag = f"{project}-app:latest"
    labels = {**test_labels, **image_labels(project, "app")}
    (tmp_path / "f").write_text("1")
    first = _build(engine, tmp_path, app_tag, labels, busybox_image)
    (tmp_path / "f").write_text("2")
    second = _build(engine, tmp_path, app_tag, labels, busybox_image)
    worker_labels = {**test_labels, **owner_labels(project, "worker")}
    child = _build(engine, tmp_path, f"{project}-worker:latest", worker_labels, app_tag)
    bystander = _build(engine, tmp_path, image_tag, test_labels, busybox_image)
    assert sorted(engine.images.of_project(project)) == sorted(
        [first, second, child]
    )  # first: untagged
    assert engine.images.remove_project(project) == 3
    assert engine.images.of_project(project) == []
    assert engine.images.id_of(first) is None
    assert engine.images.id_of(image_tag) == bystander
    assert engine.images.id_of(busybox_image) is not None


def test_remove_superseded_images_keeps_one_generation_and_what_others_hold(
    engine: Engine,
    project: str,
    make_spec: SpecMaker,
    test_labels: dict[str, str],
    busybox_image: str,
    tmp_path: Path,
) -> None:
    """Each rebuild leaves the image before it untagged; remove_superseded_images removes
    those (with their layers) but keeps the current image, one a container still uses, one
    tagged by someone, and another service's."""
    app_tag = f"devd-{project}-app:latest"
    labels = {**test_labels, **image_labels(project, "app")}
    built = []
    for number in range(4):
        (tmp_path / "f").write_text(str(number))
        built.append(_build(engine, tmp_path, app_tag, labels, busybox_image))
    first, used, tagged, current = built
    engine.client.api.tag(tagged, f"devd-test-keep-{project}", "latest")
    engine.containers.replace(make_spec(image=used))
    worker_labels = {**test_labels, **image_labels(project, "worker")}
    (tmp_path / "f").write_text("w")
    worker = _build(engine, tmp_path, f"devd-{project}-worker:latest", worker_labels, busybox_image)
    engine.client.api.tag(worker, f"devd-{project}-worker", "old")
    try:
        assert engine.images.remove_superseded(project, "app", current) == [first]
        assert engine.images.id_of(first) is None
        for kept in (used, tagged, current, worker):
            assert engine.images.id_of(kept) == kept
    finally:
        engine.client.api.remove_image(f"devd-test-keep-{project}:latest")


def test_remove_superseded_images_removes_an_older_devds_two_label_image(
    engine: Engine,
    project: str,
    test_labels: dict[str, str],
    busybox_image: str,
    tmp_path: Path,
) -> None:
    """After an upgrade, the image an older devd built (devd.project + devd.service, untagged
    by the new build) goes with the first build, not only at `devd clean`; another service's
    older image stays."""
    app_tag = f"devd-{project}-app:latest"
    (tmp_path / "f").write_text(f"old {project}")
    older = _build(
        engine, tmp_path, app_tag, {**test_labels, **owner_labels(project, "app")}, busybox_image
    )
    (tmp_path / "f").write_text(f"worker {project}")
    worker = _build(
        engine,
        tmp_path,
        f"devd-{project}-worker:latest",
        {**test_labels, **owner_labels(project, "worker")},
        busybox_image,
    )
    (tmp_path / "f").write_text(f"new {project}")
    current = _build(
        engine, tmp_path, app_tag, {**test_labels, **image_labels(project, "app")}, busybox_image
    )
    assert engine.images.remove_superseded(project, "app", current) == [older]
    assert engine.images.id_of(older) is None
    assert engine.images.id_of(worker) == worker
    assert engine.images.id_of(current) == current


def test_remove_superseded_images_stops_when_told_not_to_proceed(
    engine: Engine,
    project: str,
    test_labels: dict[str, str],
    busybox_image: str,
    tmp_path: Path,
) -> None:
    """``proceed`` False (a build of the service started): the superseded images are listed
    but none is removed; asked again with it True, they go."""
    app_tag = f"devd-{project}-app:latest"
    labels = {**test_labels, **image_labels(project, "app")}
    built = []
    for number in range(2):
        (tmp_path / "f").write_text(f"{project}-{number}")
        built.append(_build(engine, tmp_path, app_tag, labels, busybox_image))
    first, current = built
    asked: list[str] = []

    def stop() -> bool:
        asked.append("proceed?")
        return False

    assert engine.images.remove_superseded(project, "app", current, stop) == []
    assert asked == ["proceed?"]
    assert engine.images.id_of(first) == first
    assert engine.images.remove_superseded(project, "app", current) == [first]
    assert engine.images.id_of(first) is None


def test_remove_failed_build_images_removes_what_the_failed_build_made(
    engine: Engine, test_labels: dict[str, str], busybox_image: str, tmp_path: Path
) -> None:
    """The layers a failed build made (unlabelled: build labels come last) are removed, and
    nothing under them: the base image and the cached layers stay."""
    (tmp_path / "a").write_text(uuid.uuid4().hex)
    (tmp_path / "Dockerfile").write_text(
        f"FROM {busybox_image}\nCOPY a /a\nCOPY a /b\nCOPY missing /c\n"
    )
    tag = f"devd-test-{uuid.uuid4().hex[:12]}"
    with (
        build_context(tmp_path, tmp_path / "Dockerfile", []) as context,
        pytest.raises(BuildFailed) as caught,
    ):
        engine.builds.build(
            context, tag=tag, labels=test_labels, build_args={}, target=None, no_cache=False
        )
    made = caught.value.created_images
    assert len(made) == 2
    assert engine.images.remove_failed_build(made) == 2
    assert [engine.images.id_of(image) for image in made] == [None, None]
    assert engine.images.id_of(busybox_image) is not None
    assert engine.images.remove_failed_build(made) == 0  # gone already: nothing to do


def test_image_id_is_none_for_a_missing_image(engine: Engine, busybox_image: str) -> None:
    """image_id resolves a tag to the image id, and gives None when there is no such image."""
    assert engine.images.id_of(busybox_image) == engine.client.images.get(busybox_image).id
    assert engine.images.id_of("devd-no-such-image:latest") is None


# --- errors ----------------------------------------------------------------------------------


def test_unreachable_engine_raises_engine_unavailable() -> None:
    """A connection that fails surfaces as EngineUnavailable (exit code 2), not a docker-py or
    requests exception."""
    client = docker.DockerClient(base_url="tcp://127.0.0.1:1", version="1.41", timeout=5)
    try:
        with pytest.raises(EngineUnavailable) as caught:
            Engine(client).containers.of_project("p")
    finally:
        client.close()
    assert caught.value.exit_code == 2
    assert "no Docker engine answers" in str(caught.value)


def test_labels_are_named_as_daemon_expects() -> None:
    """The label keys other tools filter on."""
    assert owner_labels("p", "s") == {LABEL_PROJECT: "p", LABEL_SERVICE: "s"}
    assert (LABEL_PROJECT, LABEL_SERVICE) == ("devd.project", "devd.service")


def test_put_files_does_not_send_a_file_the_container_already_got_unchanged(
    engine: Engine, running: str, docker_client: Any, tmp_path: Path
) -> None:
    """A file put_files copied into this container, unchanged on the host since, is not sent
    again (an early copy of a save and the copy of the whole batch cost one); any change
    to the host file (content, time, mode) sends it again."""
    code = tmp_path / "app.py"
    code.write_text("v1\n")
    engine.files.put(running, {"/app/app.py": code})
    assert sh(docker_client, running, "echo changed-inside > /app/app.py") == (0, "")
    calls: list[str] = []
    original = docker_client.api.put_archive

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[1])
        return original(*args, **kwargs)

    docker_client.api.put_archive = counting
    try:
        engine.files.put(running, {"/app/app.py": code})
        assert calls == []
        assert sh(docker_client, running, "cat /app/app.py") == (0, "changed-inside\n")
        code.chmod(0o600)
        engine.files.put(running, {"/app/app.py": code})
        assert calls == ["/"]
    finally:
        del docker_client.api.put_archive
    assert sh(docker_client, running, "cat /app/app.py") == (0, "v1\n")
