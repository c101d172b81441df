"""``devd up`` on compose-shaped projects against the real engine (an in-process Supervisor,
configured as the compose loader would configure it): services reach each other by name,
depends_on waits for health, a shared context rebuilds each service once, develop.watch
actions, image-only services, and down/clean touching only what devd made."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devd.commands import build, clean, down, rebuild, status
from devd.config import Dependency, ExecHook, Healthcheck, Mount, WatchRule, load
from devd.engine.engine import Engine
from devd.errors import ForeignResource, ImageMissing
from tests.conftest import remove_project
from tests.stackdriver import InProcessUp, Recorder, project, service, wait_until
from tests.test_resources import remove_stack
from tests.updriver import run_devd

pytestmark = pytest.mark.engine

BUSYBOX = "devd-busybox:latest"
SLEEPER = f'FROM {BUSYBOX}\nCOPY . /app\nCMD ["sleep", "1000"]\n'


@pytest.fixture
def name(test_id: str, docker_client: Any, busybox_image: str) -> Iterator[str]:
    """The test's project name; afterwards its containers, images, networks, volumes go."""
    project_name = f"t{test_id}"
    yield project_name
    remove_stack(docker_client, f"devd.test={test_id}")
    remove_project(docker_client, project_name)
    remove_stack(docker_client, f"devd.project={project_name}")


@pytest.fixture
def running() -> Iterator[list[InProcessUp]]:
    """The in-process ``devd up`` a test starts, stopped afterwards."""
    started: list[InProcessUp] = []
    yield started
    for up in started:
        up.stop()


def write(root: Path, path: str, text: str) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def cat(engine: Engine, container_id: str, path: str) -> str | None:
    code, lines = engine.execs.run(container_id, ("cat", path))
    return "\n".join(lines) if code == 0 else None


def test_services_reach_each_other_by_name_after_the_healthcheck_passes(
    tmp_path: Path,
    name: str,
    engine: Engine,
    test_labels: dict[str, str],
    running: list[InProcessUp],
) -> None:
    """web starts serving 2 s after it starts; client (image-only, service_healthy on web)
    fetches http://web:8000/ once at start: it only succeeds if devd waited for health and
    the project network resolves the service name."""
    write(tmp_path, "web/www/index.html", f"hello {name}\n")
    write(
        tmp_path,
        "web/Dockerfile",
        f"FROM {BUSYBOX}\nCOPY www /www\n"
        'CMD ["sh", "-c", "sleep 2; exec httpd -f -p 8000 -h /www"]\n',
    )
    check = Healthcheck(
        ("CMD", "wget", "-q", "-O", "/dev/null", "http://localhost:8000/"),
        interval_s=0.5,
        timeout_s=2,
        retries=20,
    )
    web = service("web", tmp_path, context="web", healthcheck=check, labels=test_labels, init=True)
    client = service(
        "client",
        tmp_path,
        build=False,
        image=BUSYBOX,
        command=("sh", "-c", "wget -q -O - http://web:8000/ && exec sleep 1000"),
        depends_on=(Dependency("web", "service_healthy"),),
        labels=test_labels,
        init=True,
    )
    up = InProcessUp(project(tmp_path, name, web, client), engine)
    running.append(up)
    up.wait_event("running", service="client", timeout=90)
    line = wait_until(
        lambda: up.out.named("output", service="client", line=f"hello {name}"), 30, "client output"
    )
    assert line
    [container] = engine.containers.of_project(name, "client")
    assert container.status == "running"
    assert engine.resources.networks(name) == [f"{name}_default"]
    waited = up.out.named("waiting for dependencies", service="client")
    assert waited
    assert waited[0]["on"] == ["web"]


def test_a_save_in_a_shared_context_rebuilds_each_service_once(
    tmp_path: Path,
    name: str,
    engine: Engine,
    test_labels: dict[str, str],
    running: list[InProcessUp],
) -> None:
    """Two services built from one context: one save rebuilds and replaces each, once."""
    write(tmp_path, "shared/Dockerfile", SLEEPER)
    write(tmp_path, "shared/code.txt", f"1 {name}\n")
    services = [
        service(s, tmp_path, context="shared", labels=test_labels, init=True) for s in ("a", "b")
    ]
    up = InProcessUp(project(tmp_path, name, *services), engine)
    running.append(up)
    up.wait_event("running", service="a", timeout=90)
    up.wait_event("running", service="b", timeout=90)
    write(tmp_path, "shared/code.txt", f"2 {name}\n")
    up.wait_event("running", count=2, service="a", timeout=90)
    up.wait_event("running", count=2, service="b", timeout=90)
    wait_until(lambda: not any(c.snapshot().busy for c in up.supervisor.controllers()), 30, "idle")
    assert len(up.out.named("building", service="a")) == 2
    assert len(up.out.named("building", service="b")) == 2
    for svc in ("a", "b"):
        [container] = engine.containers.of_project(name, svc)
        assert cat(engine, container.id, "/app/code.txt") == f"2 {name}"


def test_develop_watch_actions_do_what_compose_does(
    tmp_path: Path,
    name: str,
    engine: Engine,
    test_labels: dict[str, str],
    running: list[InProcessUp],
) -> None:
    """initial_sync copies at start; sync copies without a restart; sync+restart copies and
    restarts; restart only restarts; sync+exec runs its command after the copy and reports
    its exit code; rebuild builds and replaces the container."""
    write(
        tmp_path,
        "app/Dockerfile",
        f'FROM {BUSYBOX}\nCOPY deps.txt /deps.txt\nCOPY www /www\nCMD ["sleep", "1000"]\n',
    )
    write(tmp_path, "app/deps.txt", f"deps-1 {name}\n")
    write(tmp_path, "app/www/index.html", f"v1 {name}\n")
    write(tmp_path, "app/extra/e.txt", "initial\n")
    rules = (
        WatchRule("sync", "app/www", target="/www"),
        WatchRule("sync+restart", "app/conf", target="/conf"),
        WatchRule("rebuild", "app/deps.txt"),
        WatchRule("restart", "app/restart.txt"),
        WatchRule(
            "sync+exec",
            "app/hooks",
            target="/hooks",
            exec_hook=ExecHook(("sh", "-c", "cat /hooks/* > /tmp/hook.out")),
        ),
        WatchRule("sync", "app/extra", target="/extra", initial_sync=True),
    )
    app = service("app", tmp_path, context="app", watch=rules, labels=test_labels, init=True)
    up = InProcessUp(project(tmp_path, name, app), engine)
    running.append(up)
    up.wait_event("running", service="app", timeout=90)
    up.wait_event("initial sync", service="app", files=1)
    [first] = engine.containers.of_project(name, "app")
    assert cat(engine, first.id, "/extra/e.txt") == "initial"

    write(tmp_path, "app/www/index.html", "v2\n")
    up.wait_event("synced", service="app", restarted=False)
    assert cat(engine, first.id, "/www/index.html") == "v2"
    assert engine.containers.get(first.id).started_at == first.started_at  # type: ignore[union-attr]

    write(tmp_path, "app/conf/c.ini", "c\n")
    up.wait_event("synced", service="app", restarted=True, files=1)
    assert cat(engine, first.id, "/conf/c.ini") == "c"
    restarted = engine.containers.get(first.id)
    assert restarted is not None
    assert restarted.started_at != first.started_at

    write(tmp_path, "app/restart.txt", "r\n")
    up.wait_event("synced", service="app", restarted=True, files=0)
    again = engine.containers.get(first.id)
    assert again is not None
    assert again.started_at != restarted.started_at

    write(tmp_path, "app/hooks/h1", "hooked\n")
    event = up.wait_event("exec", service="app")
    assert event["exit_code"] == 0
    assert cat(engine, first.id, "/tmp/hook.out") == "hooked"

    write(tmp_path, "app/deps.txt", f"deps-2 {name}\n")
    up.wait_event("running", count=2, service="app", timeout=90)
    [second] = engine.containers.of_project(name, "app")
    assert second.id != first.id
    assert cat(engine, second.id, "/deps.txt") == f"deps-2 {name}"
    assert len(up.out.named("building", service="app")) == 2  # start-up, then deps.txt


def test_missing_image_and_foreign_network_stop_devd_up_with_one_line(
    tmp_path: Path,
    name: str,
    engine: Engine,
    docker_client: Any,
    test_labels: dict[str, str],
) -> None:
    """An image-only service whose image is absent, or a network of the project's name that
    devd did not make: devd up ends with the one-line error before building anything."""
    db = service("db", tmp_path, build=False, image=f"devd-missing-{name}:1", labels=test_labels)
    up = InProcessUp(project(tmp_path, name, db), engine)
    up.thread.join(60)
    assert isinstance(up.error, ImageMissing)
    assert str(up.error) == (
        f"service 'db': image 'devd-missing-{name}:1' not found locally and devd does not pull; "
        "build or pull it first"
    )
    docker_client.networks.create(f"{name}_default", labels=test_labels)
    box = service("box", tmp_path, build=False, image=BUSYBOX, labels=test_labels)
    up = InProcessUp(project(tmp_path, name, box), engine)
    up.thread.join(60)
    assert isinstance(up.error, ForeignResource)
    assert f"network '{name}_default' already exists" in str(up.error)
    assert engine.containers.of_project(name) == []


def test_down_and_clean_leave_unlabelled_networks_and_volumes_alone(
    tmp_path: Path,
    name: str,
    engine: Engine,
    docker_client: Any,
    test_labels: dict[str, str],
    running: list[InProcessUp],
) -> None:
    """status shows an image-only service's container and image; down removes the project's
    containers and network but keeps its named volume; clean removes the volume too; a
    network and a volume of similar names without devd's labels survive both."""
    docker_client.networks.create(f"{name}_default2", labels=test_labels)
    docker_client.volumes.create(f"{name}_data2", labels=test_labels)
    box = service(
        "box",
        tmp_path,
        build=False,
        image=BUSYBOX,
        command=("sleep", "1000"),
        volumes=(Mount("volume", f"{name}_data", "/data"),),
        labels=test_labels,
        init=True,
    )
    config = project(tmp_path, name, box, volumes=[f"{name}_data"])
    up = InProcessUp(config, engine)
    running.append(up)
    up.wait_event("running", service="box", timeout=60)
    [row] = status(config, engine)
    assert (row["state"], row["last_build"]) == ("running", f"image-only: {BUSYBOX}")
    up.stop()
    out = Recorder(["box"])
    down(config, engine, out)
    assert engine.containers.of_project(name) == []
    assert engine.resources.networks(name) == []
    assert engine.resources.volumes(name) == [f"{name}_data"]
    clean(config, engine, out)
    assert engine.resources.volumes(name) == []
    assert docker_client.networks.get(f"{name}_default2").name == f"{name}_default2"
    assert docker_client.volumes.get(f"{name}_data2").name == f"{name}_data2"


def test_a_dependent_waits_out_a_failed_build_and_starts_once_it_is_fixed(
    tmp_path: Path,
    name: str,
    engine: Engine,
    test_labels: dict[str, str],
    running: list[InProcessUp],
) -> None:
    """db's build fails: web (depends_on db) is reported as not started, naming both; fixing
    db's Dockerfile starts db, and then web, without a save to web."""
    write(tmp_path, "db/Dockerfile", f"FROM {BUSYBOX}\nRUN false\n")
    write(tmp_path, "web/Dockerfile", SLEEPER)
    db = service("db", tmp_path, context="db", labels=test_labels, init=True)
    web = service(
        "web",
        tmp_path,
        context="web",
        depends_on=(Dependency("db"),),
        labels=test_labels,
        init=True,
    )
    up = InProcessUp(project(tmp_path, name, db, web), engine)
    running.append(up)
    failed = up.wait_event("failed", service="web", timeout=90)
    assert "service 'web' not started: it depends on 'db'" in failed["error"]
    assert engine.containers.of_project(name) == []
    write(tmp_path, "db/Dockerfile", SLEEPER)
    up.wait_event("running", service="db", timeout=90)
    up.wait_event("running", service="web", timeout=90)
    assert [c.service for c in engine.containers.of_project(name)] == ["db", "web"]


def test_a_restart_is_not_reported_as_an_exit_but_a_crash_after_it_is(
    tmp_path: Path,
    name: str,
    engine: Engine,
    test_labels: dict[str, str],
    running: list[InProcessUp],
) -> None:
    """A restart rule's restart is devd's own doing: no "container exited" report, however
    late the old run's log stream ends; the container exiting by itself afterwards is."""
    write(
        tmp_path,
        "app/Dockerfile",
        f"FROM {BUSYBOX}\nCOPY . /app\n"
        'CMD ["sh", "-c", "while [ ! -f /tmp/crash ]; do sleep 0.1; done; exit 7"]\n',
    )
    rules = (WatchRule("restart", "app/restart.txt"),)
    app = service("app", tmp_path, context="app", watch=rules, labels=test_labels, init=True)
    up = InProcessUp(project(tmp_path, name, app), engine)
    running.append(up)
    up.wait_event("running", service="app", timeout=90)
    for count in (1, 2, 3):
        write(tmp_path, "app/restart.txt", f"{count}\n")
        up.wait_event("synced", count=count, service="app", restarted=True)
    [container] = engine.containers.of_project(name, "app")
    engine.execs.run(container.id, ("touch", "/tmp/crash"))
    exited = up.wait_event("container exited; not restarting it (save a change to rebuild)")
    assert exited["exit_code"] == 7
    exits = up.out.named("container exited; not restarting it (save a change to rebuild)")
    assert len(exits) == 1


def test_a_one_shot_job_that_exits_0_is_reported_completed_not_exited(
    tmp_path: Path,
    name: str,
    engine: Engine,
    test_labels: dict[str, str],
    running: list[InProcessUp],
) -> None:
    """A migration job others wait for (``service_completed_successfully``) that exits 0 has
    done its work: one "completed" at info level, no "container exited" error, and its
    dependent starts."""
    write(tmp_path, "migrate/Dockerfile", f'FROM {BUSYBOX}\nCMD ["sh", "-c", "echo migrated"]\n')
    write(tmp_path, "app/Dockerfile", SLEEPER)
    migrate = service("migrate", tmp_path, context="migrate", labels=test_labels)
    needs = (Dependency("migrate", "service_completed_successfully"),)
    app = service("app", tmp_path, context="app", labels=test_labels, depends_on=needs)
    up = InProcessUp(project(tmp_path, name, migrate, app), engine)
    running.append(up)
    up.wait_event("running", service="app", timeout=90)
    completed = up.wait_event("completed", service="migrate")
    assert (completed["level"], completed["exit_code"]) == ("info", 0)
    assert up.out.named("container exited; not restarting it (save a change to rebuild)") == []


def test_a_built_service_with_image_is_tagged_so_and_clean_removes_only_devds(
    tmp_path: Path, name: str, engine: Engine, docker_client: Any, test_id: str
) -> None:
    """``build:`` with ``image:``: the built image is tagged with that name too (as compose
    tags it), alongside devd's own tag; ``devd clean`` removes that image, tags and all, since
    it carries devd's labels, and leaves an unlabelled image of a similar name alone."""
    wanted = f"devd-test-{test_id}/web:dev"
    foreign = f"devd-test-{test_id}/web:other"
    docker_client.images.get(BUSYBOX).tag(foreign)
    try:
        write(tmp_path, "Dockerfile", SLEEPER)
        web = service("web", tmp_path, image=wanted)
        config = project(tmp_path, name, web)
        out = Recorder(["web"])
        assert build(config, engine, out, ["web"], no_cache=False) == 0
        built = docker_client.images.get(f"devd-{name}-web:latest")
        assert wanted in built.tags
        assert built.labels["devd.image"] == f"{name}/web"
        assert clean(config, engine, out) == 0
        assert engine.images.id_of(wanted) is None
        assert engine.images.id_of(foreign) == docker_client.images.get(BUSYBOX).id
    finally:
        docker_client.images.remove(foreign)


def test_rebuild_without_up_starts_what_the_service_depends_on_in_order(
    tmp_path: Path, name: str, engine: Engine, test_labels: dict[str, str]
) -> None:
    """``devd rebuild app`` with nothing running: app's image-only database is started from
    its image and its migration job run, each before app (which waits for the database's
    health and the job's exit 0, as at ``devd up``); a second rebuild leaves the running
    database alone."""
    write(tmp_path, "migrate/Dockerfile", f'FROM {BUSYBOX}\nCMD ["sh", "-c", "echo migrated"]\n')
    write(tmp_path, "app/Dockerfile", SLEEPER)
    check = Healthcheck(("CMD", "true"), interval_s=0.5, timeout_s=2, retries=5)
    db = service(
        "db", tmp_path, build=False, image=BUSYBOX, command=("sleep", "1000"),
        healthcheck=check, labels=test_labels,
    )  # fmt: skip
    migrate = service("migrate", tmp_path, context="migrate", labels=test_labels)
    needs = (
        Dependency("db", "service_healthy"),
        Dependency("migrate", "service_completed_successfully"),
    )
    app = service("app", tmp_path, context="app", labels=test_labels, depends_on=needs)
    config = project(tmp_path, name, app, migrate, db)
    out = Recorder(["app", "migrate", "db"])
    assert rebuild(config, engine, out, ["app"], no_cache=False) == 0
    started = [event["service"] for event in out.named("running")]
    assert started.index("app") > max(started.index("db"), started.index("migrate"))
    states = {c.service: (c.status, c.exit_code) for c in engine.containers.of_project(name)}
    assert states["app"][0] == "running"
    assert states["db"][0] == "running"
    assert states["migrate"] == ("exited", 0)
    [db_container] = engine.containers.of_project(name, "db")
    assert rebuild(config, engine, out, ["app"], no_cache=False) == 0
    assert [c.id for c in engine.containers.of_project(name, "db")] == [db_container.id]


SCOPED_COMPOSE = """\
name: {name}
services:
  good:
    build: good
    init: true
    stop_grace_period: 1s
    labels: {{devd.test: "{test_id}"}}
  broken:
    build: broken
    labels: {{devd.test: "{test_id}"}}
"""


def test_rebuild_of_one_service_ignores_an_unrelated_broken_one(
    tmp_path: Path,
    name: str,
    test_id: str,
    engine: Engine,
    docker_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """good and broken (a Dockerfile without FROM), no devd up: ``devd build good`` and
    ``devd rebuild good`` succeed and leave broken untouched (no image, no container);
    ``devd rebuild broken`` and ``devd rebuild`` (every service) exit 2 with one line naming
    broken and its file, and good's container goes on running."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # the subprocesses' too
    write(tmp_path, "compose.yaml", SCOPED_COMPOSE.format(name=name, test_id=test_id))
    write(tmp_path, "good/Dockerfile", SLEEPER)
    write(tmp_path, "broken/Dockerfile", "RUN true\n")
    for command in ("build", "rebuild"):
        result = run_devd(tmp_path, command, "good", timeout=120)
        assert result.returncode == 0, result.stderr
    [good] = engine.containers.of_project(name)
    assert (good.service, good.status) == ("good", "running")
    images = {tag for image in docker_client.images.list() for tag in image.tags}
    assert f"devd-{name}-good:latest" in images
    assert f"devd-{name}-broken:latest" not in images
    for names in (["broken"], []):
        result = run_devd(tmp_path, "rebuild", *names, timeout=120)
        assert result.returncode == 2, result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("devd: ")]
        assert errors == [
            "devd: service 'broken': broken/Dockerfile:1: RUN true: expected FROM "
            "(only ARG may come before it)"
        ], result.stderr
    assert [(c.id, c.status) for c in engine.containers.of_project(name)] == [(good.id, "running")]


LONELY_COMPOSE = """\
name: {name}
services:
  good:
    build: good
    init: true
    stop_grace_period: 1s
    labels: {{devd.test: "{test_id}"}}
    volumes: ["own:/own"]
  lonely:
    image: devd-busybox:latest
    command: ["sleep", "1000"]
    labels: {{devd.test: "{test_id}"}}
    volumes: ["cache:/cache", "spare:/spare"]
volumes:
  own: {{}}
  spare: {{}}
  cache:
    external: true
    name: {name}_cache
"""


def test_rebuild_of_one_service_ignores_an_unrelated_services_volumes(
    tmp_path: Path, name: str, test_id: str, engine: Engine, docker_client: Any
) -> None:
    """No devd up: ``devd rebuild good`` makes only the volume good mounts, and an external
    volume only the unrelated lonely mounts, though missing, does not stop it; ``devd
    rebuild`` of every service stops on it (exit 2, one line naming it) and good goes on."""
    write(tmp_path, "compose.yaml", LONELY_COMPOSE.format(name=name, test_id=test_id))
    write(tmp_path, "good/Dockerfile", SLEEPER)
    result = run_devd(tmp_path, "rebuild", "good", timeout=120)
    assert result.returncode == 0, result.stderr
    [good] = engine.containers.of_project(name)
    assert (good.service, good.status) == ("good", "running")
    volumes = sorted(v.name for v in docker_client.volumes.list() if v.name.startswith(name))
    assert volumes == [f"{name}_own"]
    result = run_devd(tmp_path, "rebuild", timeout=120)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("devd: ")]
    assert errors == [
        f"devd: compose.yaml: volumes.cache: external volume '{name}_cache' not found; devd "
        f"does not create external volumes: create it first (docker volume create {name}_cache)"
    ], result.stderr
    assert [(c.id, c.status) for c in engine.containers.of_project(name)] == [(good.id, "running")]


# -- external volumes ----------------------------------------------------------------------------

EXTERNAL_COMPOSE = """\
name: {name}
services:
  box:
    image: devd-busybox:latest
    command: ["sleep", "1000"]
    init: true
    stop_grace_period: 1s
    labels: {{devd.test: "{test_id}"}}
    volumes: ["cache:/cache", "old:/old"]
volumes:
  cache:
    external: true
    name: {name}_cache
  old:
    external: true
    name: {name}_old
"""


def test_a_missing_external_volume_stops_devd_up_with_one_line_and_exit_2(
    tmp_path: Path, name: str, test_id: str, docker_client: Any
) -> None:
    """devd up on a compose file whose external volume does not exist: exit 2, one line naming
    the key and the engine name and saying to create it; no container, network or volume
    made (the volume is not created for the user, as compose does not)."""
    write(tmp_path, "compose.yaml", EXTERNAL_COMPOSE.format(name=name, test_id=test_id))
    result = run_devd(tmp_path, "up", timeout=60)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("devd: ")]
    assert errors == [
        f"devd: compose.yaml: volumes.cache: external volume '{name}_cache' not found; devd "
        f"does not create external volumes: create it first (docker volume create {name}_cache)"
    ], result.stderr
    selector = {"label": f"devd.project={name}"}
    assert docker_client.containers.list(all=True, filters=selector) == []
    assert docker_client.networks.list(filters=selector) == []
    assert [v.name for v in docker_client.volumes.list() if v.name.startswith(name)] == []


def test_an_existing_external_volume_is_mounted_as_is_and_survives_down_and_clean(
    tmp_path: Path,
    name: str,
    test_id: str,
    engine: Engine,
    docker_client: Any,
    test_labels: dict[str, str],
    running: list[InProcessUp],
) -> None:
    """External volumes that exist are mounted though devd did not make them: one unlabelled
    (but for the test's label), one carrying this project's devd label (devd's before it was
    made external). devd adds no label, and neither down nor clean removes them."""
    write(tmp_path, "compose.yaml", EXTERNAL_COMPOSE.format(name=name, test_id=test_id))
    docker_client.volumes.create(f"{name}_cache", labels=test_labels)
    old_labels = {**test_labels, "devd.project": name, "devd.resource": "volume"}
    docker_client.volumes.create(f"{name}_old", labels=old_labels)
    config = load(tmp_path, environ={})
    assert [v.name for v in config.external_volumes] == [f"{name}_cache", f"{name}_old"]
    up = InProcessUp(config, engine)
    running.append(up)
    up.wait_event("running", service="box", timeout=60)
    [container] = docker_client.containers.list(filters={"label": f"devd.project={name}"})
    assert container.exec_run(["sh", "-c", "echo kept > /cache/file"]).exit_code == 0
    up.stop()
    out = Recorder(["box"])
    down(config, engine, out)
    clean(config, engine, out)
    assert engine.containers.of_project(name) == []
    assert docker_client.volumes.get(f"{name}_cache").attrs["Labels"] == test_labels
    assert docker_client.volumes.get(f"{name}_old").attrs["Labels"] == old_labels
    output = docker_client.containers.run(
        BUSYBOX,
        ["cat", "/cache/file"],
        volumes={f"{name}_cache": {"bind": "/cache"}},
        labels=test_labels,
        remove=True,
    )
    assert output == b"kept\n"
