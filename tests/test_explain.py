"""devd.explain: the note about devd itself before the per-service rows. Pure: no disk."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from devd.config import Mount, ProjectConfig, ServiceConfig, WatchRule
from devd.core import dockerfile
from devd.core.classify import BuildView, Classification, Kind
from devd.core.ignore import IgnoreRules
from devd.daemon.reload import config_paths
from devd.explain import UNCONCERNED, Note, config_note, explain
from tests.stackdriver import project, service

ROOT = Path("/p")
DOCKERFILE = "FROM devd-busybox:latest\nCOPY . /app\n"


def view(svc: ServiceConfig, ignore: tuple[str, ...] = ()) -> BuildView:
    """A view of ``svc`` built with ``COPY . /app`` from the project root, read from no disk."""
    return BuildView(
        service=svc.name,
        context="",
        dockerfile_path="Dockerfile",
        dockerfile=dockerfile.parse(DOCKERFILE, "Dockerfile", {}),
        target=None,
        ignore_file=".dockerignore",
        ignore_rules=IgnoreRules(ignore),
        watch_ignore=IgnoreRules(("**/.git",)),
    )


def compose_project() -> ProjectConfig:
    """Services web (built) and db (an image), read from compose.yaml, .env and web.env."""
    web = service("web", ROOT)
    db = service("db", ROOT, build=False, image="postgres:16")
    found = project(ROOT, "p", web, db)
    return replace(found, sources=(ROOT / "compose.yaml", ROOT / ".env", ROOT / "env/web.env"))


def toml_project(**fields: object) -> ProjectConfig:
    """Service app from devd.toml (no compose file)."""
    app = service("app", ROOT, **fields)
    return replace(project(ROOT, "p", app), source="devd.toml", compose_file=None)


def test_every_path_the_reload_watches_gets_a_config_note() -> None:
    """The note is given for exactly the paths devd up reloads on (one list, reload's own)."""
    found = compose_project()
    for path in config_paths(found):
        note = config_note(path, found)
        assert note is not None, path
        assert note.kind == "config", path
    assert config_note("app.py", found) is None
    assert config_note("sub/compose.yaml", found) is None


def test_the_compose_file_defines_its_services() -> None:
    """compose.yaml: a save reloads; it names the services it defines."""
    note = config_note("compose.yaml", compose_project())
    assert note is not None
    assert note.services == ("web", "db")
    assert note.reason.startswith("the compose file, defines services web, db: a save during")
    assert "recreates only the services whose settings change" in note.reason


def test_dotenv_and_an_env_file_of_the_compose_file() -> None:
    """.env may change any service; an env_file's services are not known from the config."""
    dotenv = config_note(".env", compose_project())
    env_file = config_note("env/web.env", compose_project())
    assert dotenv is not None
    assert env_file is not None
    assert dotenv.services == ("web", "db")
    assert "compose.yaml takes variables from it" in dotenv.reason
    assert env_file.services is None
    assert env_file.reason.startswith("an env_file of compose.yaml")
    assert "services" not in env_file.as_dict()


def test_devd_toml_defines_the_services_and_says_the_ignore_list_only_changes_watching() -> None:
    """devd.toml in a devd.toml project: its services, and what an ignore change does."""
    note = config_note("devd.toml", toml_project())
    assert note is not None
    assert note.services == ("app",)
    assert note.reason.startswith("devd's settings (devd.toml), defines services app:")
    assert note.reason.endswith("a change to ignore only changes what is watched")


def test_devd_toml_beside_a_compose_file_holds_settings() -> None:
    """devd.toml in a compose project: settings if any; its services would replace compose's."""
    note = config_note("devd.toml", compose_project())
    assert note is not None
    assert note.services is None
    assert "services there replace compose.yaml's" in note.reason


def test_a_watched_name_not_read_now_says_where_the_configuration_comes_from() -> None:
    """compose.yaml in a devd.toml project reloads, but is not read: said, no services."""
    note = config_note("compose.yaml", toml_project())
    assert note is not None
    assert note.services == ()
    assert note.reason.startswith("not read now (the configuration comes from devd.toml), but")


def test_dotenv_as_a_devd_toml_env_file_is_read_by_the_container_not_the_reload() -> None:
    """.env named by services.app.env_file: the reload keeps the containers."""
    note = config_note(".env", toml_project(env_file=ROOT / ".env"))
    assert note is not None
    assert note.services == ("app",)
    assert "the env_file of app, read when a container is created" in note.reason
    assert "keeps the containers" in note.reason


def test_a_config_file_the_image_copies_gets_both_answers() -> None:
    """compose.yaml under ``COPY . /app`` and not excluded: the reload note, then ``code``
    for web (the engine gets it; db, an image, has no row); excluded by .dockerignore: the
    note, then ``ignored``."""
    found = compose_project()
    web, db = found.services["web"], found.services["db"]
    rows = explain(["compose.yaml"], found, [(web, view(web)), (db, view(db))])
    assert [(type(r), r.kind) for r in rows] == [(Note, "config"), (Classification, Kind.CODE)]
    excluded = explain(["compose.yaml"], found, [(web, view(web, ("compose.yaml",)))])
    assert [r.kind for r in excluded] == ["config", Kind.IGNORED]


def test_a_path_outside_the_project_is_one_row() -> None:
    """Outside the root: one ignored note with the absolute path, no per-service rows."""
    found = compose_project()
    web = found.services["web"]
    [row] = explain(["../elsewhere.py"], found, [(web, view(web))])
    assert isinstance(row, Note)
    assert row.as_dict() == {
        "path": "/elsewhere.py",
        "kind": "ignored",
        "reason": "outside the project /p/: devd up does not watch it; no service's image gets it",
    }


def test_ordinary_paths_have_no_note() -> None:
    """A source file gets only its per-service rows."""
    found = toml_project()
    app = found.services["app"]
    rows = explain(["src/main.py"], found, [(app, view(app))])
    assert [(type(r), r.kind) for r in rows] == [(Classification, Kind.CODE)]


def test_image_only_services_get_rows_only_for_paths_that_concern_them() -> None:
    """An image-only service has a row for a path under its bind mount or a develop.watch
    rule's path, else none (52 rows for 13 paths in full-stack-fastapi-template), unless it
    was asked for by name; a path no service gets a row for gets one note saying so."""
    web = service("web", ROOT)
    db = service(
        "db",
        ROOT,
        build=False,
        image="postgres:16",
        volumes=(Mount("bind", "/p/initdb", "/docker-entrypoint-initdb.d"),),
    )
    cache = service("cache", ROOT, build=False, image="redis",
                    watch=(WatchRule("restart", "redis.conf"),))  # fmt: skip
    found = project(ROOT, "p", web, db, cache)
    views = [(s, view(s)) for s in (web, db, cache)]
    assert [r.service for r in explain(["src/a.py"], found, views)] == ["web"]  # type: ignore[union-attr]
    rows = explain(["initdb/1.sql", "redis.conf"], found, views[1:])
    assert [(r.path, r.service, r.kind) for r in rows] == [  # type: ignore[union-attr]
        ("initdb/1.sql", "db", Kind.IGNORED),
        ("redis.conf", "cache", Kind.CODE),
    ]
    [note] = explain(["src/a.py"], found, views[1:])
    assert (type(note), note.kind, note.reason) == (Note, "ignored", UNCONCERNED)
    assert [r.service for r in explain(["src/a.py"], found, views[1:2], every_service=True)] == [  # type: ignore[union-attr]
        "db"
    ]
