"""Compose's file model (issue 13): the override file compose merges beside the main file,
``-f`` given several times, ``COMPOSE_FILE`` with its path separator, merged as compose merges
them (mappings by key; per key for sequences: ports, volumes, environment...; ``!reset`` and
``!override``), and ``profiles`` / ``COMPOSE_PROFILES`` / ``--profile``. Checked against
``docker compose config`` (the oracle; it needs no engine) on fixtures shaped like
full-stack-fastapi-template, whose dev setup lives in ``docker-compose.override.yml``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devd import config, explain
from devd.compose import ComposeProject
from devd.compose.merge import merge_files, strip_tags, unique
from devd.config import ComposeChoice, Dependency, PortMapping
from devd.daemon.reload import config_paths
from devd.errors import ConfigError
from tests.composefiles import compose, compose_config, write
from tests.test_compose_load import _their_ports, _their_volumes

# full-stack-fastapi-template's shape: production in docker-compose.yml, the dev setup (two
# more services, the backend's ports, a bind mount of its code, a reloading command, dev
# settings) in docker-compose.override.yml
BASE = """\
services:
  db:
    image: postgres:17
    restart: always
    env_file: [.env]
    environment:
      - PGDATA=/var/lib/postgresql/data/pgdata
      - POSTGRES_PASSWORD=${POSTGRES_PASSWORD?Variable not set}
    volumes:
      - app-db-data:/var/lib/postgresql/data/pgdata
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U postgres"]
      interval: 10s
  prestart:
    build: ./backend
    depends_on:
      db: {condition: service_healthy}
    command: bash scripts/prestart.sh
    env_file: [.env]
  backend:
    build:
      context: ./backend
      args: [INSTALL_DEV=false, PYTHON=3.12]
    depends_on:
      db: {condition: service_healthy}
      prestart: {condition: service_completed_successfully}
    env_file: [.env]
    environment:
      - DOMAIN=${DOMAIN}
      - ENVIRONMENT=production
    labels: [traefik.enable=true, tier=back]
    volumes:
      - ./backend/static:/app/static:ro
    ports: ["8000"]
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost:8000/health"]
      interval: 10s
volumes:
  app-db-data:
"""
OVERRIDE = """\
services:
  db:
    restart: "no"
    ports: ["5432:5432"]
  adminer:
    image: adminer
    depends_on: [db]
    ports: ["8080:8080"]
  backend:
    restart: "no"
    ports: ["8000:8000", {target: 8000, published: "8000"}, "5678:5678"]
    build:
      args: {INSTALL_DEV: "true"}
    command: /start-reload.sh
    environment:
      ENVIRONMENT: local
      SMTP_HOST: mailcatcher
    labels: {tier: dev}
    volumes:
      - ./backend:/app
      - ./backend/htmlcov:/app/static
    depends_on: [mailcatcher]
    healthcheck:
      test: ["CMD", "true"]
  mailcatcher:
    image: schickling/mailcatcher
    ports: ["1080:1080", "1025:1025"]
"""
DOTENV = "POSTGRES_PASSWORD=changethis\nDOMAIN=localhost\n"


def fastapi(root: Path, override: str = "docker-compose.override.yml") -> Path:
    write(root, BASE, "docker-compose.yml", **{".env": DOTENV})
    (root / override).write_text(OVERRIDE)
    (root / "backend").mkdir()
    return root


def assert_agrees(ours: ComposeProject, theirs: Any) -> None:
    """devd's services are compose's, in compose's normalisation: the same services, and for
    each its ports, volumes, environment, labels, command, build args and dependencies."""
    assert sorted(ours.services) == sorted(theirs["services"])
    for name, service in ours.services.items():
        their = theirs["services"][name]
        assert list(service.ports) == _their_ports(their), name
        assert list(service.volumes) == _their_volumes(their, theirs.get("volumes", {})), name
        their_env = {k: v for k, v in (their.get("environment") or {}).items() if v is not None}
        assert dict(service.environment) == their_env, name
        assert dict(service.labels) == (their.get("labels") or {}), name
        assert service.command == (tuple(their["command"]) if their.get("command") else None)
        assert dict(service.build_args) == their.get("build", {}).get("args", {}), name
        assert {d.service: d.condition for d in service.depends_on} == {
            dep: spec["condition"] for dep, spec in (their.get("depends_on") or {}).items()
        }, name
        if "healthcheck" in their:
            assert service.healthcheck is not None
            assert list(service.healthcheck.test) == their["healthcheck"]["test"], name


# -- which files ------------------------------------------------------------------------------


def test_the_override_file_beside_the_main_file_is_merged(tmp_path: Path) -> None:
    """full-stack-fastapi-template: docker-compose.override.yml is merged over
    docker-compose.yml as compose merges it: two more services, the backend's ports, its
    bind mount and reloading command, dev settings over production ones (main devd read 4
    services of 6, without a word). The result equals `docker compose config`'s."""
    root = fastapi(tmp_path / "full-stack")
    ours = compose(root)
    assert ours.files == (root / "docker-compose.yml", root / "docker-compose.override.yml")
    assert list(ours.services) == ["db", "prestart", "backend", "adminer", "mailcatcher"]
    backend = ours.services["backend"]
    assert backend.ports == (PortMapping(0, 8000), PortMapping(8000, 8000), PortMapping(5678, 5678))
    assert backend.command == ("/start-reload.sh",)
    assert backend.build_args == {"INSTALL_DEV": "true", "PYTHON": "3.12"}
    assert backend.environment["ENVIRONMENT"] == "local"
    assert backend.labels == {"traefik.enable": "true", "tier": "dev"}
    assert [m.target for m in backend.volumes] == ["/app/static", "/app"]
    assert backend.volumes[0].source == str(root / "backend" / "htmlcov")  # same target: last
    assert backend.depends_on[-1] == Dependency("mailcatcher")
    assert_agrees(ours, compose_config(root))


@pytest.mark.parametrize(
    "override",
    ["compose.override.yml", "compose.override.yaml", "docker-compose.override.yaml"],
)
def test_any_override_name_goes_with_any_main_file(tmp_path: Path, override: str) -> None:
    """Compose's naming rule: the first of compose.override.yml, compose.override.yaml,
    docker-compose.override.yml, docker-compose.override.yaml is merged whatever the main
    file is called (here docker-compose.yml)."""
    root = fastapi(tmp_path, override)
    assert compose(root).files[-1] == root / override
    assert sorted(compose(root).services) == sorted(compose_config(root)["services"])


def test_several_override_files_warn_and_take_composes_first(tmp_path: Path) -> None:
    """With two override files the first by compose's order is merged, with a warning."""
    root = fastapi(tmp_path, "docker-compose.override.yaml")
    (root / "compose.override.yml").write_text("services:\n  extra:\n    image: x\n")
    project = compose(root)
    assert project.files[-1] == root / "compose.override.yml"
    assert project.warnings[0] == (
        "found override files docker-compose.override.yaml too; using compose.override.yml, "
        "as compose does"
    )
    assert sorted(project.services) == sorted(compose_config(root)["services"])


def test_dash_f_files_replace_the_default_ones_and_merge_in_order(tmp_path: Path) -> None:
    """``-f`` given twice: those files, merged in order, and no override file; relative to
    the project directory; a missing one names the flag. `docker compose -f a -f b config`
    agrees."""
    root = fastapi(tmp_path)
    (root / "compose.dev.yaml").write_text("services:\n  backend:\n    ports: ['9000:8000']\n")
    files = (Path("docker-compose.yml"), Path("compose.dev.yaml"))
    ours = compose(root, files=files)
    assert list(ours.services) == ["db", "prestart", "backend"]
    assert ours.services["backend"].ports == (PortMapping(0, 8000), PortMapping(9000, 8000))
    args = ("-f", "docker-compose.yml", "-f", "compose.dev.yaml")
    assert_agrees(ours, compose_config(root, args=args))
    with pytest.raises(ConfigError, match=r"^-f: compose file .*/nope.yaml does not exist$"):
        compose(root, files=(Path("nope.yaml"),))


def test_dash_f_in_a_directory_reads_the_env_and_paths_from_there(tmp_path: Path) -> None:
    """``-f deploy/compose.yaml``: as in compose, relative paths and ``.env`` are the first
    file's directory's, and the project is named after it."""
    root = tmp_path / "proj"
    write(
        root / "deploy",
        "services:\n  web:\n    image: x:${TAG}\n    volumes: ['./data:/data']\n",
        **{".env": "TAG=deploy\n"},
    )
    (root / ".env").write_text("TAG=root\n")
    ours = compose(root, files=(Path("deploy/compose.yaml"),))
    theirs = compose_config(root, args=("-f", "deploy/compose.yaml"))
    assert (
        (ours.name, ours.services["web"].image)
        == (theirs["name"], "x:deploy")
        == (
            "deploy",
            theirs["services"]["web"]["image"],
        )
    )
    assert_agrees(ours, theirs)


@pytest.mark.parametrize("where", ["environment", ".env"])
def test_compose_file_lists_the_files_with_its_separator(tmp_path: Path, where: str) -> None:
    """``COMPOSE_FILE`` (from the environment or the project's ``.env``) lists the files,
    split at ``:`` or at ``COMPOSE_PATH_SEPARATOR``; the project's ``.env`` interpolates them,
    wherever they are. The same as compose's."""
    root = fastapi(tmp_path / "proj")
    (root / "ops").mkdir()
    (root / "ops" / "more.yaml").write_text("services:\n  extra:\n    image: x:${DOMAIN}\n")
    variables = {"COMPOSE_FILE": "docker-compose.yml;ops/more.yaml", "COMPOSE_PATH_SEPARATOR": ";"}
    environ: dict[str, str] = {}
    if where == "environment":
        environ = dict(variables)
    else:
        lines = "".join(f"{key}={value}\n" for key, value in variables.items())
        (root / ".env").write_text(DOTENV + lines)
    ours = compose(root, environ)
    assert ours.files == (root / "docker-compose.yml", root / "ops" / "more.yaml")
    assert ours.services["extra"].image == "x:localhost"
    assert_agrees(ours, compose_config(root, environ))


# -- how they merge ---------------------------------------------------------------------------

MERGE_BASE = """\
services:
  web:
    build: .
    image: web:base
    command: ["serve", "--prod"]
    entrypoint: /entry.sh
    environment: {A: "1", B: "2"}
    env_file: [one.env]
    labels: [x=1]
    ports: ["80:80", "443:443"]
    volumes: ["./a:/a", {type: bind, source: ./b, target: /b}]
    depends_on: [db]
    cap_add: [NET_ADMIN]
    healthcheck: {test: [CMD, "true"], interval: 5s, retries: 3}
  db:
    image: db
"""
MERGE_OVER = """\
services:
  web:
    build: {args: [X=1], target: dev}
    command: serve --dev
    environment: [B=3, C=4]
    env_file: [two.env, one.env]
    labels: {y: "2", x: "3"}
    ports: ["80:80", "8080:80"]
    volumes: ["./c:/b", "./d:/d"]
    depends_on: {db: {condition: service_healthy}}
    cap_add: [NET_ADMIN, SYS_PTRACE]
    healthcheck: {test: [CMD, "false"], retries: 5}
  db:
    ports: !reset []
    environment: !override {ONLY: "this"}
"""


def test_every_key_merges_as_compose_merges_it(tmp_path: Path) -> None:
    """Per key, compose's rules: build as a mapping; command replaced; environment, labels,
    env_file appended one per key (the last value in the first place); ports and volumes
    one per port / container path; depends_on as a mapping; healthcheck merged by key with
    its test replaced; ``!reset`` and ``!override``. Equal to `docker compose config`."""
    root = write(
        tmp_path,
        MERGE_BASE.replace("    image: db\n", "    image: db\n    ports: ['5432']\n"
                           "    environment: {GONE: x}\n"),
        "compose.yaml",
        **{"compose.override.yaml": MERGE_OVER, "one.env": "E=one\n", "two.env": "E=two\nF=2\n"},
    )  # fmt: skip
    ours = compose(root)
    web, db = ours.services["web"], ours.services["db"]
    assert (web.command, web.entrypoint, web.target) == (("serve", "--dev"), ("/entry.sh",), "dev")
    assert web.environment == {"E": "two", "F": "2", "A": "1", "B": "3", "C": "4"}
    assert web.labels == {"x": "3", "y": "2"}
    assert web.ports == (PortMapping(80, 80), PortMapping(443, 443), PortMapping(8080, 80))
    assert [(Path(m.source).name, m.target) for m in web.volumes] == [
        ("a", "/a"),
        ("c", "/b"),
        ("d", "/d"),
    ]
    assert web.depends_on == (Dependency("db", "service_healthy"),)
    assert web.healthcheck is not None
    assert (web.healthcheck.test, web.healthcheck.retries) == (("CMD", "false"), 5)
    assert (db.ports, db.environment) == ((), {"ONLY": "this"})
    assert_agrees(ours, compose_config(root))


def test_a_conflict_of_kinds_names_the_file_and_key(tmp_path: Path) -> None:
    """A mapping in one file where another has a list (or a scalar) cannot be merged: one
    error naming the file and the key path, as compose refuses it."""
    root = write(tmp_path, MERGE_BASE, **{"compose.override.yaml": "services:\n  web:\n"
                                          "    healthcheck: [x]\n"})  # fmt: skip
    with pytest.raises(ConfigError) as error:
        compose(root)
    assert str(error.value).startswith(
        "compose.override.yaml: services.web.healthcheck: cannot override"
    )


def test_an_error_names_the_file_the_value_came_from(tmp_path: Path) -> None:
    """A bad value in the override file is reported in the override file; one both files
    wrote names both."""
    root = write(tmp_path, MERGE_BASE, **{"compose.override.yaml": "services:\n  web:\n"
                                          "    stop_grace_period: 10\n"})  # fmt: skip
    with pytest.raises(ConfigError, match=r"^compose.override.yaml: services.web.stop_grace"):
        compose(root)
    (root / "compose.override.yaml").write_text("services:\n  web:\n    ports: [[1]]\n")
    with pytest.raises(
        ConfigError, match=r"^compose.yaml \+ compose.override.yaml: services.web.ports\[2\]"
    ):
        compose(root)


def test_merge_rules_without_files() -> None:
    """The merge itself: a mapping and a list of KEY=VALUE append as compose's sorted lists;
    ``!reset`` drops what the earlier files said; unique() keeps the last entry in the first
    place; a file whose top is not a mapping names the file."""
    tree, resets = strip_tags({"services": {"a": {"command": "x"}}})
    first = ({"services": {"a": {"environment": {"B": 2, "A": None}, "command": ["y"]}}}, [], "1")
    merged = merge_files([first, (tree, resets, "2")])
    assert merged == {"services": {"a": {"environment": {"B": 2, "A": None}, "command": "x"}}}
    merged = merge_files([first, ({"services": {"a": {"environment": ["B=3"]}}}, [], "2")])
    assert merged["services"]["a"]["environment"] == ["A", "B=3"]
    assert unique({"services": {"a": {"volumes": ["./x:/v", "/v", "/w"]}}}) == {
        "services": {"a": {"volumes": ["/v", "/w"]}}
    }
    with pytest.raises(ConfigError, match=r"^3: expected a mapping, got a list$"):
        merge_files([([1], [], "3")])


# -- profiles ---------------------------------------------------------------------------------

PROFILED = """\
services:
  web:
    image: web
    depends_on:
      debugger: {condition: service_started, required: false}
  debugger:
    image: debug
    profiles: [debug]
  admin:
    image: admin
    profiles: [ops, debug]
"""


@pytest.mark.parametrize(
    ("environ", "flags", "active"),
    [
        ({}, (), ["web"]),
        ({"COMPOSE_PROFILES": "debug"}, (), ["web", "debugger", "admin"]),
        ({"COMPOSE_PROFILES": " ops , nope"}, (), ["web", "admin"]),
        ({"COMPOSE_PROFILES": "*"}, (), ["web", "debugger", "admin"]),
        ({"COMPOSE_PROFILES": "debug"}, ("ops",), ["web", "admin"]),
    ],
)
def test_profiles_select_services_as_compose_does(
    tmp_path: Path, environ: dict[str, str], flags: tuple[str, ...], active: list[str]
) -> None:
    """A service with ``profiles`` runs only when one of them is active (``--profile``,
    else ``COMPOSE_PROFILES``; ``*``: all); one without always runs. The others are kept
    with their profiles, for the line that says they were skipped. Compose agrees."""
    root = write(tmp_path, PROFILED)
    ours = compose(root, environ, profiles=flags)
    assert list(ours.services) == active
    assert dict(ours.inactive) == {
        name: profiles
        for name, profiles in {"debugger": ("debug",), "admin": ("ops", "debug")}.items()
        if name not in active
    }
    args = tuple(arg for flag in flags for arg in ("--profile", flag))
    assert sorted(compose_config(root, environ, args)["services"]) == sorted(active)


def test_profiles_from_the_dotenv_and_a_required_inactive_dependency(tmp_path: Path) -> None:
    """``COMPOSE_PROFILES`` in ``.env`` counts; an active service that requires an inactive
    one is an error naming both and what to do (compose refuses it too)."""
    root = write(tmp_path, PROFILED, **{".env": "COMPOSE_PROFILES=ops\n"})
    assert list(compose(root).services) == ["web", "admin"]
    (root / "compose.yaml").write_text(PROFILED.replace("required: false", "required: true"))
    (root / ".env").write_text("")
    with pytest.raises(ConfigError) as error:
        compose(root)
    assert str(error.value) == (
        "compose.yaml: services.web.depends_on: service 'debugger' is not active (its "
        "profiles: debug); activate one (COMPOSE_PROFILES=debug or --profile debug) or make "
        "the dependency required: false"
    )


def test_an_inactive_service_is_not_read_further(tmp_path: Path) -> None:
    """As in compose, an inactive service's env files are not read: a missing one is no
    error while its profile is off."""
    root = write(tmp_path, PROFILED.replace("    image: debug\n", "    image: debug\n"
                                            "    env_file: missing.env\n"))  # fmt: skip
    assert list(compose(root).services) == ["web"]


# -- the configuration and devd up ------------------------------------------------------------


def test_config_load_takes_dash_f_and_profiles_and_reloads_on_every_file(tmp_path: Path) -> None:
    """Through devd's configuration: ``-f`` and ``--profile`` arrive as a ComposeChoice; the
    merged files, the override names and ``.env`` are paths whose save reloads devd up, and
    ``devd explain`` says what an override file is."""
    root = fastapi(tmp_path / "proj")
    project = config.load(root, environ={})
    assert project.compose_files == (
        root / "docker-compose.yml",
        root / "docker-compose.override.yml",
    )
    assert {"docker-compose.yml", "docker-compose.override.yml", ".env",
            "compose.override.yaml"} <= config_paths(project)  # fmt: skip
    note = explain.config_note("docker-compose.override.yml", project)
    assert note is not None
    assert note.reason.startswith("a compose file merged over docker-compose.yml")
    chosen = config.load(
        root, environ={}, compose=ComposeChoice((Path("docker-compose.yml"),), ("x",))
    )
    assert list(chosen.services) == ["db", "prestart", "backend"]
    (root / "devd.toml").write_text("[services.app]\n")
    with pytest.raises(ConfigError, match=r"^-f: devd.toml defines services"):
        config.load(root, environ={}, compose=ComposeChoice((Path("docker-compose.yml"),)))


# -- include ----------------------------------------------------------------------------------

INCLUDING = """\
include:
  - db/compose.yaml
  - path: [tools/compose.yaml, tools/compose.dev.yaml]
    env_file: tools/tools.env
services:
  web:
    build: ./web
    depends_on: [db]
    volumes: ["./web/src:/src"]
"""
INCLUDED_DB = """\
services:
  db:
    build: .
    volumes: ["./init:/docker-entrypoint-initdb.d", "data:/var/lib/data"]
    env_file: db.env
    environment: {TAG: "${DB_TAG}", SHARED: "${SHARED}"}
volumes:
  data:
"""
INCLUDED_TOOLS = """\
services:
  tool:
    build: {context: ., dockerfile: tool.Dockerfile}
    image: "tool:${TOOL}"
    develop:
      watch: [{action: rebuild, path: ./src}]
"""


def test_include_reads_each_project_from_its_own_directory(tmp_path: Path) -> None:
    """``include:`` (a path, or paths merged in order with their own env_file): each included
    project's relative paths start from its own directory and its ``.env`` interpolates it
    under the including project's variables. Equal to `docker compose config`; the included
    files are sources (a save reloads devd up). Defining an included service again is an
    error, as compose has it."""
    root = write(tmp_path / "proj", INCLUDING, **{".env": "SHARED=main\n"})
    for path, text in {
        "db/compose.yaml": INCLUDED_DB,
        "db/.env": "DB_TAG=from-db\nSHARED=db\n",
        "db/db.env": "PASSWORD=x\n",
        "tools/compose.yaml": INCLUDED_TOOLS,
        "tools/compose.dev.yaml": "services:\n  tool:\n    ports: ['9000:9000']\n",
        "tools/tools.env": "TOOL=dev\n",
    }.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    for directory in ("web/src", "db/init", "tools/src"):
        (root / directory).mkdir(parents=True)
    ours = compose(root)
    db, tool = ours.services["db"], ours.services["tool"]
    assert list(ours.services) == ["db", "tool", "web"]
    assert db.context == root / "db"
    assert db.environment == {"PASSWORD": "x", "TAG": "from-db", "SHARED": "main"}
    assert db.volumes[0].source == str(root / "db" / "init")
    assert (tool.image, tool.dockerfile) == ("tool:dev", root / "tools" / "tool.Dockerfile")
    assert tool.watch is not None
    assert tool.watch[0].path == "tools/src"
    assert tool.ports == (PortMapping(9000, 9000),)
    assert ours.volumes == ("proj_data",)
    assert {root / "db/compose.yaml", root / "tools/compose.dev.yaml"} <= set(ours.sources)
    assert ours.included == (
        root / "db/compose.yaml",
        root / "tools/compose.yaml",
        root / "tools/compose.dev.yaml",
    )
    note = explain.config_note("db/compose.yaml", config.load(root, environ={}))
    assert note is not None
    assert note.reason.startswith("a compose file compose.yaml includes (its services join)")
    theirs = compose_config(root)
    assert_agrees(ours, theirs)
    assert theirs["services"]["db"]["build"]["context"] == str(db.context)
    (root / "compose.yaml").write_text(INCLUDING + "  db:\n    environment: {EXTRA: main}\n")
    with pytest.raises(ConfigError) as error:
        compose(root)
    assert str(error.value).startswith(
        "compose.yaml: services.db: conflicts with the one an included file defines"
    )


def test_an_include_cycle_and_a_missing_include_are_errors(tmp_path: Path) -> None:
    """A file that includes itself through another, or an include that does not exist: one
    error naming the file and the include."""
    root = write(tmp_path, "include: [a.yaml]\nservices:\n  web:\n    image: x\n")
    (root / "a.yaml").write_text("include: [compose.yaml]\nservices:\n  b:\n    image: x\n")
    with pytest.raises(ConfigError) as error:
        compose(root)
    assert str(error.value) == (
        "a.yaml: include[0]: include cycle: compose.yaml -> a.yaml -> compose.yaml"
    )
    (root / "a.yaml").unlink()
    with pytest.raises(ConfigError, match=r"^compose.yaml: include\[0\].path: included file .*"):
        compose(root)
