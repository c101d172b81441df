"""Bind mounts are live (devd.bind_mounts, and what devd.rules makes of them): a path under the
host source of a service's bind mount reaches its container through the mount, so for that
service a save there is no build, no sync and no restart (its develop.watch rules aside);
files the container writes there start nothing; explain says so. The shape is
django-on-docker's: ``./app`` (the build context, Dockerfile included) mounted over the
image's code at ``/usr/src/app``. Without an engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from devd.config import Mount, ServiceConfig, WatchRule
from devd.core.bind_mounts import BindMount, bind_mounts, reaching
from devd.core.classify import BuildView, Kind
from devd.core.plan import Action
from devd.core.rules import explain, plan_batch, plan_early, prunable, relevant
from devd.project import service_view
from tests.stackdriver import project, service

DJANGO_DOCKERFILE = """\
FROM python:3.11-slim
WORKDIR /usr/src/app
COPY ./requirements.txt .
RUN pip install -r requirements.txt
COPY ./entrypoint.sh .
RUN chmod +x /usr/src/app/entrypoint.sh
COPY . .
ENTRYPOINT ["/usr/src/app/entrypoint.sh"]
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text(DJANGO_DOCKERFILE)
    (tmp_path / "app" / ".dockerignore").write_text("*.log\n")
    return tmp_path


def web(root: Path, **fields: object) -> tuple[ServiceConfig, BuildView]:
    mount = Mount("bind", str(root / "app"), "/usr/src/app")
    svc = service("web", root, context="app", volumes=(mount,), **fields)
    return svc, service_view(project(root, "p", svc), svc)


def test_a_services_bind_mounts_inside_the_project() -> None:
    """Only bind mounts whose source is inside the project count (named volumes, tmpfs and
    host paths elsewhere do not); the deepest source holding a path is the one it reaches
    through; the project root mounted whole holds every project path."""
    svc = service(
        "web",
        Path("/p"),
        volumes=(
            Mount("bind", "/p/app", "/srv"),
            Mount("bind", "/p/app/static", "/static", read_only=True),
            Mount("bind", "/var/run/docker.sock", "/var/run/docker.sock"),
            Mount("volume", "p_data", "/data"),
        ),
        build=False,
        image="x",
    )
    assert bind_mounts(svc, "/p") == (
        BindMount("app", "/srv"),
        BindMount("app/static", "/static", read_only=True),
    )
    static = reaching("app/static/a.css", svc, "/p")
    assert static == BindMount("app/static", "/static", read_only=True)
    assert static.display == "./app/static:/static:ro"
    assert reaching("app/x.py", svc, "/p") == BindMount("app", "/srv")
    assert (reaching("apps/x.py", svc, "/p"), reaching("../app/x.py", svc, "/p")) == (None, None)
    whole = service("w", Path("/p"), volumes=(Mount("bind", "/p", "/src"),))
    assert reaching("any/file", whole, "/p") == BindMount("", "/src")
    assert BindMount("", "/src").display == ".:/src"


@pytest.mark.parametrize(
    "path", ["app/polls/views.py", "app/db.sqlite3", "app/mediafiles/upload.jpg", "app/x.log"]
)
def test_a_save_under_the_mount_is_nothing_for_the_mounting_service(root: Path, path: str) -> None:
    """Code saved under ./app, a database and an upload the container writes there: no
    build, no sync, no restart (devd rebuilt and replaced the container for each, and the
    container's writes made a loop); explain says the path reaches the container."""
    svc, view = web(root)
    assert plan_batch([path], svc, view, str(root), now=1.0).empty
    assert not relevant(path, svc, view, str(root))
    row = explain(path, svc, view, str(root))
    assert (row.kind, row.reason) == (
        Kind.IGNORED,
        "reaches web through the bind mount ./app:/usr/src/app; nothing to do",
    )


def test_a_sync_service_copies_nothing_the_mount_shows(root: Path) -> None:
    """With code_action sync, a save under the mount is not copied either (early or final)."""
    svc, view = web(root, code_action="sync")
    assert plan_early(["app/polls/views.py"], svc, view, str(root), now=1.0).empty
    assert plan_batch(["app/polls/views.py"], svc, view, str(root), now=1.0).empty


def test_a_dependency_under_the_mount_says_what_would_rerun(root: Path) -> None:
    """requirements.txt under the mount: nothing happens (as under compose), and explain
    names the RUN step that a rebuild would re-run and how to ask for it."""
    svc, view = web(root)
    assert plan_batch(["app/requirements.txt"], svc, view, str(root), now=1.0).empty
    assert explain("app/requirements.txt", svc, view, str(root)).reason == (
        "reaches web through the bind mount ./app:/usr/src/app; nothing to do (the image's "
        "app/Dockerfile:4 `RUN pip install -r requirements.txt` does not re-run: devd rebuild "
        "web does it)"
    )


def test_the_build_definition_under_the_mount_still_rebuilds(root: Path) -> None:
    """The Dockerfile and its ignore file are the image's definition, not something the
    container reads: a save to them rebuilds even though they lie under the mount."""
    svc, view = web(root)
    for path in ("app/Dockerfile", "app/.dockerignore"):
        work = plan_batch([path], svc, view, str(root), now=1.0)
        assert (work.kind, work.action) == (Kind.DOCKERFILE, Action.REBUILD)


def test_another_service_building_from_the_mounted_tree_is_told_apart(root: Path) -> None:
    """A worker that copies ./app into its image but does not mount it rebuilds on the same
    save, and explain says so per service."""
    svc, _ = web(root)
    worker = service("worker", root, context="app")
    worker_view = service_view(project(root, "p", svc, worker), worker)
    assert explain("app/polls/views.py", worker, worker_view, str(root)).kind is Kind.CODE
    work = plan_batch(["app/polls/views.py"], worker, worker_view, str(root), now=1.0)
    assert work.action is Action.REBUILD


def test_the_watcher_prunes_mounted_trees_but_not_the_definition(root: Path) -> None:
    """No inotify watch is needed under the mount, except where the Dockerfile or ignore
    file is: app/mediafiles is pruned, app itself is not."""
    svc, view = web(root)
    assert prunable("app/mediafiles", svc, view, str(root))
    assert not prunable("app", svc, view, str(root))


def test_develop_watch_rules_decide_under_the_mount(root: Path) -> None:
    """A service with rules follows them under its mount: a restart rule restarts, a sync
    rule is skipped (the mount shows the file, as compose skips it)."""
    rules = (
        WatchRule("restart", "app/settings.py"),
        WatchRule("sync", "app", target="/usr/src/app"),
    )
    svc, view = web(root, watch=rules)
    work = plan_batch(["app/settings.py"], svc, view, str(root), now=1.0)
    assert work.action is Action.SYNC_RESTART
    assert plan_batch(["app/polls/views.py"], svc, view, str(root), now=1.0).empty


def test_an_image_only_service_with_a_mount_is_told_what_reaches_it(root: Path) -> None:
    """An image-only service (postgres with ./initdb mounted): a path under its mount gets
    the mount row, others the no-build row."""
    (root / "initdb").mkdir()
    mount = Mount("bind", str(root / "initdb"), "/docker-entrypoint-initdb.d", read_only=True)
    db = service("db", root, build=False, image="postgres:16", volumes=(mount,))
    db_view = service_view(project(root, "p", db), db)
    assert explain("initdb/01.sql", db, db_view, str(root)).reason == (
        "reaches db through the bind mount ./initdb:/docker-entrypoint-initdb.d:ro; nothing to do"
    )
    assert explain("app/x.py", db, db_view, str(root)).reason.startswith("service db has no build")
