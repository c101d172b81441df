"""devd.compose.load (and its service translation): realistic compose files read into devd's
ProjectConfig values, warnings for keys devd ignores, one-line errors naming the file and key
path, the project name, and the hook into devd.config.load. Checked against
``docker compose config`` where the compose binary is installed (it needs no engine).
Ports, volumes, healthchecks, watch rules and the file itself have their own test modules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devd import config
from devd.compose import load
from devd.config import ContainerOptions, Dependency, Healthcheck, Mount, PortMapping, Ulimit
from devd.errors import ConfigError
from tests.composefiles import (
    TEAM,
    compose,
    compose_config,
    error_of,
    one,
    write,
)

# -- realistic files -------------------------------------------------------------------------


def test_team_app_and_db(tmp_path: Path) -> None:
    """The seed's app+db: the app is built and watched, the database runs from its image;
    one network and one named volume, both project-scoped; ``.env`` and the process
    environment interpolate; env_file values sit under ``environment``."""
    root = write(
        tmp_path / "shop",
        TEAM,
        **{".env": "DB_PASSWORD=s3cret\nAPP_PORT=8001\n", ".env.app": "DEBUG=0\nWORKERS=2\n"},
    )
    project = compose(root, {"APP_PORT": "9000"})
    assert (project.name, project.network, project.volumes) == (
        "shop",
        "shop_default",
        ("shop_pgdata",),
    )
    app, db = project.services["app"], project.services["db"]
    assert (app.build, app.context, app.dockerfile) == (True, root, root / "Dockerfile")
    assert app.build_args == {"BASE": "python:3.11-slim"}
    assert app.ports == (PortMapping(9000, 8000),)
    assert app.environment == {
        "DEBUG": "1",
        "WORKERS": "2",
        "DATABASE_URL": "postgres://shop:s3cret@db:5432/shop",
    }
    assert (app.env_file, app.command) == (None, ("python", "-m", "shop", "--reload"))
    assert app.depends_on == (Dependency("db", "service_healthy"),)
    assert app.volumes == (Mount("bind", str(root / "media"), "/app/media"),)
    assert (app.stop_timeout, app.code_action, app.watch) == (3.0, "rebuild", None)
    assert (db.build, db.image) == (False, "postgres:16")
    assert db.volumes == (Mount("volume", "shop_pgdata", "/var/lib/postgresql/data"),)
    assert db.healthcheck == Healthcheck(("CMD-SHELL", "pg_isready -U shop"), 2.0, 1.0, 10, 90.0)
    assert project.warnings == ()


def test_two_services_sharing_one_context(tmp_path: Path) -> None:
    """Two services built from one context with different Dockerfiles and targets: each gets
    the context and its own Dockerfile, resolved against the context."""
    project = compose(
        write(
            tmp_path,
            """\
services:
  web:
    build: {context: ./src, target: web}
  worker:
    build:
      context: src
      dockerfile: docker/worker.Dockerfile
      target: worker
""",
        )
    )
    web, worker = project.services["web"], project.services["worker"]
    assert web.context == worker.context == tmp_path / "src"
    assert web.dockerfile == tmp_path / "src" / "Dockerfile"
    assert worker.dockerfile == tmp_path / "src" / "docker" / "worker.Dockerfile"
    assert (web.target, worker.target) == ("web", "worker")


# -- build -----------------------------------------------------------------------------------


def test_build_args_list_and_bare_names(tmp_path: Path) -> None:
    """``args`` as a list: ``K=V`` as written, a bare ``K`` from the environment (left out
    when unset); image and build together: built, and tagged as ``image`` says."""
    service = one(
        "  web:\n    image: me/web\n    build:\n      args: [A=1, B=, FROM_ENV, UNSET]\n",
        tmp_path,
        {"FROM_ENV": "env"},
    )
    assert service.build_args == {"A": "1", "B": "", "FROM_ENV": "env"}
    assert (service.build, service.image, service.context) == (True, "me/web", tmp_path)


def test_build_keys_devd_ignores_are_warned(tmp_path: Path) -> None:
    """``build.cache_from`` and the like: one warning each, naming service and key."""
    project = compose(
        write(
            tmp_path,
            "services:\n  web:\n    build:\n      context: .\n"
            "      cache_from: [x]\n      tags: [a]\n",
        )
    )
    assert project.warnings == (
        "compose.yaml: services.web.build.cache_from: ignored, devd does not support it",
        "compose.yaml: services.web.build.tags: ignored, devd does not support it",
    )


def test_build_secrets_and_ssh(tmp_path: Path) -> None:
    """``build.secrets`` in short and long syntax take their source from the top-level
    ``secrets:`` (``file:`` from the compose file's directory, ``environment:``), the id
    being the long syntax's target when given; ``build.ssh`` as a list or a mapping."""
    text = (
        "services:\n  web:\n    build:\n      context: .\n"
        "      secrets: [pip_token, {source: npmrc, target: npm}]\n"
        "      ssh: [default, deploy=./agent.sock]\n"
        "  api:\n    build:\n      context: .\n      ssh: {default: '', other: /run/a.sock}\n"
        "secrets:\n  pip_token:\n    file: ./secrets/pip.txt\n"
        "  npmrc:\n    environment: NPM_TOKEN\n"
    )
    project = compose(write(tmp_path, text))
    web, api = project.services["web"], project.services["api"]
    assert web.secrets == (
        config.BuildSecret(
            "pip_token", "compose.yaml: secrets.pip_token", file=tmp_path / "secrets/pip.txt"
        ),
        config.BuildSecret("npm", "compose.yaml: secrets.npmrc", env="NPM_TOKEN"),
    )
    assert web.ssh == (
        config.SshAgent("default"),
        config.SshAgent("deploy", tmp_path / "agent.sock"),
    )
    assert api.ssh == (config.SshAgent("default"), config.SshAgent("other", Path("/run/a.sock")))
    assert project.warnings == ()


@pytest.mark.parametrize(
    ("build", "secrets", "expected"),
    [
        (
            "secrets: [missing]",
            "",
            "compose.yaml: services.web.build.secrets[0]: secret 'missing' is not declared "
            "under the top-level secrets",
        ),
        (
            "secrets: [s]",
            "secrets:\n  s:\n    external: true\n",
            "compose.yaml: secrets.s: a build reads a secret from file: or environment: "
            "(external secrets are a swarm's)",
        ),
        (
            "secrets: pip",
            "",
            "compose.yaml: services.web.build.secrets: expected a list of secret names, got 'pip'",
        ),
        (
            "ssh: ['=x']",
            "",
            "compose.yaml: services.web.build.ssh: ssh '=x': the id '': expected a letter or "
            "digit, then letters, digits, '_', '.' or '-'",
        ),
    ],
)
def test_bad_build_secrets_and_ssh(tmp_path: Path, build: str, secrets: str, expected: str) -> None:
    """A secret not declared, one a build cannot read, a secrets value that is no list, an
    ssh entry without an id: one line naming the file and key."""
    text = f"services:\n  web:\n    build:\n      context: .\n      {build}\n{secrets}"
    assert error_of(text, tmp_path) == expected


def test_remote_build_context_is_an_error(tmp_path: Path) -> None:
    """A git URL context cannot be watched: an error naming the key."""
    message = error_of("services:\n  web:\n    build: https://github.com/x/y.git\n", tmp_path)
    assert message.startswith(
        "compose.yaml: services.web.build.context: expected a local directory"
    )


def test_service_with_neither_build_nor_image(tmp_path: Path) -> None:
    """A service with neither ``build`` nor ``image`` is an error naming it."""
    message = error_of("services:\n  web:\n    ports: ['80']\n", tmp_path)
    assert (
        message
        == "compose.yaml: services.web: expected build or image (a service needs one of them)"
    )


# -- environment, env_file, command ------------------------------------------------------------


def test_environment_list_and_mapping(tmp_path: Path) -> None:
    """List ``K=V`` / bare ``K`` (host value, left out when unset) and mapping (null: host
    value; numbers and booleans as compose prints them) give the same kind of mapping."""
    environ = {"HOSTVAR": "h"}
    listed = one(
        "  a:\n    image: x\n    environment: [A=1, B=, C=x=y, HOSTVAR, GONE]\n",
        tmp_path / "l",
        environ,
    )
    mapped = one(
        "  a:\n    image: x\n    environment: {A: 1, B: true, C: 1.5, HOSTVAR: null, GONE:}\n",
        tmp_path / "m",
        environ,
    )
    assert listed.environment == {"A": "1", "B": "", "C": "x=y", "HOSTVAR": "h"}
    assert mapped.environment == {"A": "1", "B": "true", "C": "1.5", "HOSTVAR": "h"}


def test_env_files_merge_in_order_under_environment(tmp_path: Path) -> None:
    """Several env files merge in order (later wins), ``environment`` wins over all; compose's
    dotenv syntax (quotes, ``export``); an optional missing file is skipped."""
    root = write(
        tmp_path,
        "services:\n  a:\n    image: x\n    env_file:\n      - one.env\n"
        "      - path: two.env\n      - path: absent.env\n        required: false\n"
        "    environment: {C: env}\n",
        **{"one.env": "A=1\nB=1\nC=1\n", "two.env": "export B='2'\nQ=\"a b\"\n"},
    )
    service = compose(root).services["a"]
    assert service.environment == {"A": "1", "B": "2", "C": "env", "Q": "a b"}
    assert service.env_file is None


def test_missing_env_file_is_a_problem(tmp_path: Path) -> None:
    """A required env file that does not exist is a problem naming the key and the path:
    what stops devd up (the CLI raises it) but not devd explain; the rest still loads."""
    project = compose(write(tmp_path, "services:\n  a:\n    image: x\n    env_file: nope.env\n"))
    assert project.problems == (
        f"compose.yaml: services.a.env_file: env file {tmp_path / 'nope.env'} does not exist; "
        "create it or remove it",
    )
    assert (list(project.services), project.warnings) == (["a"], ())


def test_command_and_entrypoint(tmp_path: Path) -> None:
    """A string is split like a shell (quotes group words); a list is taken as is."""
    service = one(
        "  a:\n    image: x\n    command: sh -c 'echo \"hi there\"' x\n"
        "    entrypoint: [/bin/tini, --, 5]\n",
        tmp_path,
    )
    assert service.command == ("sh", "-c", 'echo "hi there"', "x")
    assert service.entrypoint == ("/bin/tini", "--", "5")


def test_small_run_options(tmp_path: Path) -> None:
    """init, user, working_dir, labels (list and mapping), stop_grace_period."""
    project = compose(
        write(
            tmp_path,
            """\
services:
  a:
    image: x
    init: true
    user: "1000:1000"
    working_dir: /srv
    labels: [com.example.a=1, com.example.flag]
    stop_grace_period: 1m30s
  b:
    image: x
    labels: {com.example.b: 2, empty: null}
""",
        )
    )
    a, b = project.services["a"], project.services["b"]
    assert (a.init, a.user, a.working_dir, a.stop_timeout) == (True, "1000:1000", "/srv", 90.0)
    assert a.labels == {"com.example.a": "1", "com.example.flag": ""}
    assert b.labels == {"com.example.b": "2", "empty": ""}
    assert (b.init, b.user, b.working_dir, b.stop_timeout) == (False, None, None, 10.0)


@pytest.mark.parametrize(("text", "signal"), [("SIGINT", "SIGINT"), ("quit", "quit"), ('"2"', "2")])
def test_stop_signal(tmp_path: Path, text: str, signal: str) -> None:
    """``stop_signal`` is kept as written (the engine parses it: any case, SIG optional, or a
    number); without it the image's STOPSIGNAL stays."""
    assert one(f"  a:\n    image: x\n    stop_signal: {text}\n", tmp_path).stop_signal == signal
    assert one("  a:\n    image: x\n", tmp_path).stop_signal is None


@pytest.mark.parametrize("text", ["SIGNOPE", "0", "99", "[INT]"])
def test_bad_stop_signal(tmp_path: Path, text: str) -> None:
    """A signal the engine would refuse is an error naming the key, before anything starts."""
    message = error_of(f"services:\n  a:\n    image: x\n    stop_signal: {text}\n", tmp_path)
    assert message.startswith("compose.yaml: services.a.stop_signal: expected ")


def test_restart_no_is_devds_own_and_other_policies_are_one_warning(tmp_path: Path) -> None:
    """``restart: "no"`` (compose's default) is what devd does: no warning. Any other policy
    is one warning saying what devd does instead."""
    project = compose(
        write(
            tmp_path,
            'services:\n  a: {image: x, restart: "no"}\n  b: {image: x, restart: no}\n'
            "  c: {image: x, restart: unless-stopped}\n",
        )
    )
    assert project.warnings == (
        "compose.yaml: services.c.restart: ignored, devd applies no restart policy "
        "('unless-stopped'): a container that exits is reported and left stopped until the "
        "next save or devd rebuild",
    )


CONTAINER_OPTIONS = """\
services:
  web:
    image: x
    container_name: fastapi-application
    extra_hosts: ["db.local:10.0.0.2", "cache=10.0.0.3", "v6:[::1]"]
    cap_add: [NET_ADMIN]
    cap_drop: [MKNOD, NET_RAW]
    read_only: true
    shm_size: 256m
    ulimits:
      nproc: 512
      nofile: {soft: 1024, hard: 2048}
  worker:
    image: x
    extra_hosts: {api.local: 10.0.0.4}
    shm_size: 1gb
"""


def test_container_options_are_read_as_compose_reads_them(tmp_path: Path) -> None:
    """container_name, extra_hosts (list or mapping, ``:`` or ``=``), cap_add, cap_drop,
    read_only, shm_size (1024-based units) and ulimits (one number or soft/hard): taken, not
    warned about, and equal to `docker compose config`'s."""
    root = write(tmp_path, CONTAINER_OPTIONS)
    project = compose(root)
    web, worker = project.services["web"].options, project.services["worker"].options
    assert project.services["web"].container_name == "fastapi-application"
    assert web == ContainerOptions(
        extra_hosts=("db.local:10.0.0.2", "cache:10.0.0.3", "v6:::1"),
        cap_add=("NET_ADMIN",),
        cap_drop=("MKNOD", "NET_RAW"),
        read_only=True,
        shm_size=256 * 1024**2,
        ulimits=(Ulimit("nproc", 512, 512), Ulimit("nofile", 1024, 2048)),
    )
    assert (worker.extra_hosts, worker.shm_size) == (("api.local:10.0.0.4",), 1024**3)
    assert project.warnings == ()
    theirs = compose_config(root)["services"]
    assert theirs["web"]["container_name"] == "fastapi-application"
    assert sorted(h.replace("=", ":", 1) for h in theirs["web"]["extra_hosts"]) == sorted(
        web.extra_hosts
    )
    assert (theirs["web"]["shm_size"], theirs["worker"]["shm_size"]) == (
        str(web.shm_size),
        str(worker.shm_size),
    )
    assert theirs["web"]["ulimits"] == {"nproc": 512, "nofile": {"soft": 1024, "hard": 2048}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("    container_name: -bad\n", "services.a.container_name: expected a container name"),
        ("    extra_hosts: [nohost]\n", 'services.a.extra_hosts[0]: expected "HOST:IP" or'),
        ("    shm_size: lots\n", 'services.a.shm_size: expected a size such as "64m"'),
        ("    ulimits: {nofile: {soft: 1}}\n", "services.a.ulimits.nofile: hard is missing"),
    ],
)
def test_bad_container_options_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    """A value the engine would refuse is one error naming the key, before anything runs."""
    assert error_of(f"services:\n  a:\n    image: x\n{text}", tmp_path).startswith(
        f"compose.yaml: {message}"
    )


def test_two_services_cannot_share_a_container_name(tmp_path: Path) -> None:
    """The engine would refuse the second container: an error naming both services."""
    message = error_of(
        "services:\n  a: {image: x, container_name: one}\n  b: {image: x, container_name: one}\n",
        tmp_path,
    )
    assert message == (
        "compose.yaml: services.b.container_name: 'one' is also the container_name of service 'a'"
    )


def test_tty_and_stdin_open_are_one_warning_each(tmp_path: Path) -> None:
    """devd attaches no terminal: tty and stdin_open set to true are one warning each (false
    is fine)."""
    project = compose(write(tmp_path, "services:\n  a:\n    image: x\n    tty: true\n"
                            "    stdin_open: true\n  b: {image: x, tty: false}\n"))  # fmt: skip
    hint = (
        "ignored, devd prints the container's output itself and attaches no terminal or stdin "
        "(to use a debugger, run it under docker compose)"
    )
    assert project.warnings == (
        f"compose.yaml: services.a.tty: {hint}",
        f"compose.yaml: services.a.stdin_open: {hint}",
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10s", 10.0), ("1m30s", 90.0), ("500ms", 0.5), ("1h", 3600.0), ("1.5s", 1.5), ('"0"', 0.0)],
)
def test_durations(tmp_path: Path, text: str, seconds: float) -> None:
    """Go durations, as compose reads stop_grace_period and healthcheck times."""
    assert (
        one(f"  a:\n    image: x\n    stop_grace_period: {text}\n", tmp_path).stop_timeout
        == seconds
    )


@pytest.mark.parametrize("text", ["10", "ten", "1x", "s"])
def test_bad_duration(tmp_path: Path, text: str) -> None:
    """A number or a string without units is an error naming the key (compose rejects it too)."""
    message = error_of(f"services:\n  a:\n    image: x\n    stop_grace_period: {text}\n", tmp_path)
    assert message.startswith(
        'compose.yaml: services.a.stop_grace_period: expected a duration such as "10s"'
    )


# -- depends_on, healthcheck --------------------------------------------------------------------


def test_depends_on_list_and_mapping(tmp_path: Path) -> None:
    """``depends_on`` as a list (started) or a mapping with condition and required."""
    project = compose(
        write(
            tmp_path,
            """\
services:
  a: {image: x, depends_on: [b, c]}
  b: {image: x, depends_on: {c: {condition: service_completed_successfully, required: false}}}
  c: {image: x, depends_on: {d: null}}
  d: {image: x}
""",
        )
    )
    assert project.services["a"].depends_on == (Dependency("b"), Dependency("c"))
    assert project.services["b"].depends_on == (
        Dependency("c", "service_completed_successfully", required=False),
    )
    assert project.services["c"].depends_on == (Dependency("d"),)


@pytest.mark.parametrize(
    ("services", "message"),
    [
        (
            "a: {image: x, depends_on: [nope]}",
            "compose.yaml: services.a.depends_on: unknown service 'nope' (services: a)",
        ),
        (
            "a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}",
            "compose.yaml: services.a.depends_on: dependency cycle: a -> b -> a",
        ),
        (
            "a: {image: x, depends_on: [a]}",
            "compose.yaml: services.a.depends_on: dependency cycle: a -> a",
        ),
        (
            "a: {image: x, depends_on: {b: {condition: healthy}}}\n  b: {image: x}",
            "compose.yaml: services.a.depends_on.b.condition: expected service_started | "
            "service_healthy | service_completed_successfully, got 'healthy'",
        ),
    ],
)
def test_bad_depends_on(tmp_path: Path, services: str, message: str) -> None:
    """An unknown service, a cycle or a bad condition is an error naming the key path."""
    assert error_of(f"services:\n  {services}\n", tmp_path) == message


# -- warnings and errors about keys --------------------------------------------------------------


def test_unsupported_keys_warn_once_each(tmp_path: Path) -> None:
    """Keys compose accepts but devd does not act on give one warning each, naming service and
    key; ``x-`` extensions and the default network are silently fine, and so are the
    top-level ``secrets`` (a build may use them; a service's own ``secrets`` are warned)."""
    project = compose(
        write(
            tmp_path,
            """\
version: "3.8"
x-common: &common {image: x}
services:
  web:
    <<: *common
    deploy: {replicas: 2}
    secrets: [token]
    networks: [default, back]
    x-note: fine
  db:
    image: x
    networks: [default]
networks:
  back: {}
secrets:
  token: {file: ./token}
configs:
  c: {file: ./c}
""",
        )
    )
    assert project.warnings == (
        "compose.yaml: version: ignored, the attribute is obsolete (as in compose)",
        "compose.yaml: networks.back: ignored, devd runs one network per project: "
        f"the services join only {project.name}_default",
        "compose.yaml: configs: ignored, devd does not support it",
        "compose.yaml: services.web.deploy: ignored, devd does not support it",
        "compose.yaml: services.web.secrets: ignored, devd does not support it",
        "compose.yaml: services.web.networks: ignored, devd runs one network per project",
    )


def test_networks_other_than_the_default_are_one_warning_per_key(tmp_path: Path) -> None:
    """devd runs one network per project: an external network, a custom one, settings for the
    default network (its ``name``/``external``) and each service's ``networks`` that names
    another are one warning each, naming the key and the network the services do join;
    ``networks: [default]`` and an empty ``default`` say nothing."""
    project = compose(
        write(
            tmp_path,
            """\
name: net
services:
  a: {image: x, networks: [front, default]}
  b: {image: x, networks: {front: {aliases: [bee]}}}
  c: {image: x, networks: [default]}
networks:
  front: {external: true}
  back: {}
  default: {name: shared-net, external: "true"}
""",
        )
    )
    assert project.network == "net_default"
    assert project.warnings == (
        "compose.yaml: networks.front: ignored, devd does not join external networks: "
        "the services join only net_default",
        "compose.yaml: networks.back: ignored, devd runs one network per project: "
        "the services join only net_default",
        "compose.yaml: networks.default: ignored, devd does not join external networks: "
        "the services join only net_default",
        "compose.yaml: services.a.networks: ignored, devd runs one network per project",
        "compose.yaml: services.b.networks: ignored, devd runs one network per project",
    )
    named = compose(write(tmp_path, "services:\n  a: {image: x}\nnetworks: {default: {name: n}}\n"))
    assert named.warnings == (
        "compose.yaml: networks.default: ignored, devd creates and names the project network "
        f"itself: {named.name}_default",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "services:\n  web:\n    image: x\n    enviroment: {}\n",
            "compose.yaml: services.web.enviroment: unknown key (compose does not know it); ",
        ),
        ("servics: {}\n", "compose.yaml: servics: unknown key (compose does not know it)"),
        ("name: x\n", "compose.yaml: services is missing"),
        ("services: {}\n", "compose.yaml: services: expected at least one service"),
        ("services: [web]\n", "compose.yaml: services: expected a mapping, got a list"),
        ("- a\n", "compose.yaml: expected a mapping, got a list"),
        ("services:\n  web: x\n", "compose.yaml: services.web: expected a mapping, got 'x'"),
        (
            "services:\n  'w b': {image: x}\n",
            "compose.yaml: services.w b: a service name may use only",
        ),
        (
            "services:\n  web: {image: [x]}\n",
            "compose.yaml: services.web.image: expected a string, got a list",
        ),
        (
            "services:\n  web: {image: x, init: 'yes'}\n",
            "compose.yaml: services.web.init: expected true or false, got 'yes'",
        ),
        (
            "services:\n  web: {image: x, environment: 5}\n",
            "compose.yaml: services.web.environment: expected a mapping, got 5",
        ),
        (
            "services:\n  web: {image: x, environment: {A: [1]}}\n",
            "compose.yaml: services.web.environment.A: "
            "expected a string, number or boolean, got a list",
        ),
        (
            "services:\n  web: {image: x, command: {a: 1}}\n",
            "compose.yaml: services.web.command: "
            "expected a string or a list of strings, got a mapping",
        ),
        (
            "services:\n  web: {image: '${TAG:?set TAG}'}\n",
            "compose.yaml: services.web.image: required variable TAG is missing a value: set TAG",
        ),
    ],
)
def test_invalid_files(tmp_path: Path, text: str, message: str) -> None:
    """Each invalid file gives one error naming the file and the key path, and what is
    expected (exit 2 through ConfigError)."""
    assert error_of(text, tmp_path).startswith(message)


# -- the project's name -----------------------------------------------------------------------


def test_project_name_sources(tmp_path: Path) -> None:
    """Directory name (normalised like compose), then ``name:``, then COMPOSE_PROJECT_NAME
    (from the environment or ``.env``); devd's own ``project`` wins over all."""
    root = write(tmp_path / "My.Shop_2", "services:\n  a: {image: x}\n")
    assert compose(root).name == "myshop_2"
    write(root, "name: Team App\nservices:\n  a: {image: x}\n")
    assert compose(root).name == "teamapp"
    assert compose(root, {"COMPOSE_PROJECT_NAME": "ci-run"}).network == "ci-run_default"
    (root / ".env").write_text("COMPOSE_PROJECT_NAME=from-dotenv\n")
    assert compose(root).name == "from-dotenv"
    assert compose(root, project="devd-name").name == "devd-name"


def test_invalid_compose_project_name(tmp_path: Path) -> None:
    """COMPOSE_PROJECT_NAME must already be valid, as compose insists."""
    write(tmp_path, "services:\n  a: {image: x}\n")
    with pytest.raises(
        ConfigError, match=r"^COMPOSE_PROJECT_NAME: 'Foo' is not a valid project name"
    ):
        load(tmp_path, {"COMPOSE_PROJECT_NAME": "Foo"})


# -- devd.config.load --------------------------------------------------------------------------


def test_config_load_takes_services_from_compose(tmp_path: Path) -> None:
    """With no services in devd.toml, config.load takes them from the compose file; devd.toml
    still sets debounce_ms and ignore, and its ``project`` names the project (and so scopes
    the network and volumes); the warnings travel in ProjectConfig.warnings."""
    text = TEAM.replace("    image: postgres:16\n", "    image: postgres:16\n    deploy: {}\n")
    root = write(
        tmp_path / "shop",
        text,
        **{
            ".env": "DB_PASSWORD=x\n",
            ".env.app": "",
            "devd.toml": 'debounce_ms = 5\nignore = ["*.log"]\n',
        },
    )
    project = config.load(root, environ={})
    assert (project.compose_file, project.source) == (root / "compose.yaml", "compose.yaml")
    assert list(project.services) == ["app", "db"]
    assert (project.debounce_ms, project.ignore) == (5, ("*.log",))
    assert (project.name, project.network, project.volumes) == (
        "shop",
        "shop_default",
        ("shop_pgdata",),
    )
    assert project.warnings == (
        "compose.yaml: services.db.deploy: ignored, devd does not support it",
    )
    renamed = config.load(root, environ={"DEVD_PROJECT": "Other"})
    assert (renamed.name, renamed.network, renamed.volumes) == (
        "other",
        "other_default",
        ("other_pgdata",),
    )


def test_devd_services_win_over_compose(tmp_path: Path) -> None:
    """When devd.toml defines services, the compose file is not read at all (not even
    validated)."""
    root = write(tmp_path, "this: [is not valid\n", **{"devd.toml": "[services.web]\n"})
    project = config.load(root, environ={})
    assert (list(project.services), project.compose_file, project.warnings) == (["web"], None, ())


def test_no_compose_file_keeps_devd_default(tmp_path: Path) -> None:
    """Without devd services and without a compose file, the one default service remains."""
    project = config.load(tmp_path, environ={})
    assert (list(project.services), project.compose_file) == (["app"], None)


# -- the oracle ---------------------------------------------------------------------------------


def _their_ports(service: Any) -> list[PortMapping]:
    return [
        PortMapping(int(p.get("published") or 0), p["target"], p["protocol"], p.get("host_ip"))
        for p in service.get("ports", [])
    ]


def _their_volumes(service: Any, volumes: Any) -> list[Mount]:
    result = []
    for v in service.get("volumes", []):
        source = v.get("source", "")
        if v["type"] == "volume" and source:
            source = volumes[source]["name"]
        result.append(Mount(v["type"], source, v["target"], v.get("read_only", False)))
    return result


def test_agrees_with_dockercompose_config(tmp_path: Path) -> None:
    """On a file using every short syntax, devd's values equal compose's own normalisation:
    project name, ports, volumes, environment, command, entrypoint, healthcheck test, build
    context/dockerfile/args/target, depends_on."""
    text = (
        TEAM.replace("name: shop\n", "").replace("volumes:\n  pgdata:\n", "")
        + """\
  worker:
    build:
      context: ./src
      dockerfile: w.Dockerfile
      target: dev
      args: [A=1, HOSTVAR]
    entrypoint: ["/bin/sh", "-c"]
    command: 'echo "a b" $$HOME'
    environment: [K=v, HOSTVAR, GONE]
    ports: ["9000", "127.0.0.1::81", "7000-7001:8000-8001/udp", {target: 82, published: "8082"}]
    volumes: ["./src:/src:ro", "/abs:/abs", "/anon", "pgdata:/p"]
    healthcheck: {test: [CMD, "true"]}
    depends_on: [db]
volumes:
  pgdata:
"""
    )
    root = write(tmp_path / "Oracle.Dir", text, **{".env": "DB_PASSWORD=pw\n", ".env.app": "W=1\n"})
    (root / "src").mkdir()
    environ = {"HOSTVAR": "h", "APP_PORT": "8123"}
    theirs = compose_config(root, environ)
    ours = compose(root, environ)
    assert ours.name == theirs["name"]
    for name, service in ours.services.items():
        their = theirs["services"][name]
        assert list(service.ports) == _their_ports(their), name
        assert list(service.volumes) == _their_volumes(their, theirs["volumes"]), name
        their_env = {
            k: v.replace("$$", "$")
            for k, v in (their.get("environment") or {}).items()
            if v is not None
        }
        assert dict(service.environment) == their_env, name
        their_command = their.get("command")
        if their_command is not None:
            their_command = tuple(part.replace("$$", "$") for part in their_command)
        assert service.command == their_command, name
        assert service.entrypoint == (
            tuple(their["entrypoint"]) if their.get("entrypoint") else None
        )
        assert [d.service for d in service.depends_on] == list(their.get("depends_on", {}))
        if "healthcheck" in their:
            assert service.healthcheck is not None
            assert list(service.healthcheck.test) == their["healthcheck"]["test"]
        if "build" in their:
            build = their["build"]
            assert (str(service.context), service.dockerfile.name) == (
                build["context"],
                Path(build["dockerfile"]).name,
            )
            assert (service.target, dict(service.build_args)) == (
                build.get("target"),
                build.get("args", {}),
            )


def test_interpolated_numbers_and_booleans_are_cast(tmp_path: Path) -> None:
    """Numbers and booleans that come from variables are cast as compose casts them
    (``init: ${INIT}``, ``retries: ${RETRIES}``, ``target: ${PORT}``)."""
    service = one(
        "  a:\n    image: x\n    init: ${INIT}\n    ports: [{target: '${PORT}'}]\n"
        "    healthcheck: {test: 'true', retries: '${RETRIES}'}\n",
        tmp_path,
        {"INIT": "true", "PORT": "80", "RETRIES": "7"},
    )
    assert (service.init, service.ports[0].container) == (True, 80)
    assert service.healthcheck is not None
    assert service.healthcheck.retries == 7


# -- image names and env_file interpolation (issue #5 follow-ups) ---------------------------


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ("Bad:Name", "repository name must be lowercase"),
        ("web app", "invalid reference format"),
        ("app:", "invalid reference format"),
    ],
)
def test_invalid_image_is_an_error_naming_the_key(tmp_path: Path, image: str, problem: str) -> None:
    """An ``image:`` the engine would refuse stops devd at load, naming the file and
    ``services.X.image`` (for image-only and built services alike), not at the first run."""
    for extra in ("", "    build: .\n"):
        message = error_of(f"services:\n  web:\n    image: '{image}'\n{extra}", tmp_path)
        assert message == (
            f"compose.yaml: services.web.image: {problem}: {image!r} "
            "(e.g. postgres:16 or registry.local/app:dev)"
        )


def test_valid_images_pass(tmp_path: Path) -> None:
    """Registry hosts with ports, nested paths, tags and digests are all accepted."""
    for image in ("postgres:16", "localhost:5000/team/app:dev", "a/b@sha256:" + "0" * 64):
        assert one(f"  w:\n    image: '{image}'\n", tmp_path).image == image


ENV_FILE = """\
X=${B}
Y=${X}-y
B=late
K=${B}
D=${NOPE:-dflt}
W=$$lit
Q="${C} q"
S='${C}'
E=fileE
M=${E}
KK=${BK}
"""
ENV_FILE_VALUES = {
    "BK": "1",
    "E": "fromsection",
    "M": "fromsection",
    "KK": "1",
    "X": "fromdotenv",
    "Y": "fromdotenv-y",
    "B": "late",
    "K": "fromdotenv",
    "D": "dflt",
    "W": "$lit",
    "Q": "c q",
    "S": "${C}",
}


def _env_file_project(root: Path) -> Path:
    return write(
        root,
        "services:\n  a:\n    image: x\n    env_file: [base.env, app.env]\n"
        "    environment: {E: fromsection}\n",
        **{"base.env": "BK=1\n", "app.env": ENV_FILE, ".env": "B=fromdotenv\nC=c\n"},
    )


def test_env_file_values_are_interpolated(tmp_path: Path) -> None:
    """Values in an ``env_file`` are interpolated as compose does: from the process
    environment over ``.env`` first, then the service's ``environment``, then the lines above
    in the same file, then earlier env files; ``$$`` is a ``$``; single-quoted values are
    taken literally."""
    assert compose(_env_file_project(tmp_path)).services["a"].environment == ENV_FILE_VALUES
    environment = compose(tmp_path, {"X": "proc"}).services["a"].environment
    assert (environment["X"], environment["Y"]) == ("fromdotenv", "proc-y")


def test_env_file_bad_reference_names_the_file(tmp_path: Path) -> None:
    """A malformed ``${`` in an env file is an error naming the file and the variable; an unset
    variable is compose's warning."""
    env_file = tmp_path / "app.env"
    write(tmp_path, "services:\n  a:\n    image: x\n    env_file: app.env\n",
          **{"app.env": "U=${X\n"})  # fmt: skip
    with pytest.raises(ConfigError) as error:
        load(tmp_path, {})
    assert str(error.value) == (
        f"{env_file}: U: invalid interpolation format '${{X'; write $$ for a literal $"
    )
    env_file.write_text("V=a$b\n")
    found = compose(tmp_path)
    assert found.services["a"].environment == {"V": "a"}
    assert f'{env_file}: the "b" variable is not set; defaulting to a blank string' in (
        found.warnings
    )


def test_env_file_interpolation_agrees_with_dockercompose_config(tmp_path: Path) -> None:
    """The same env file gives compose's own values (``docker compose config``, which prints
    a ``$`` as ``$$``)."""
    _env_file_project(tmp_path)
    printed = compose_config(tmp_path)["services"]["a"]["environment"]
    assert {k: v.replace("$$", "$") for k, v in printed.items()} == ENV_FILE_VALUES


def test_sources_are_the_files_read(tmp_path: Path) -> None:
    """The project lists the files it was read from — the compose file, ``.env`` beside it
    and each env file (also an optional one not there yet) — for ``devd up`` to reload on."""
    (tmp_path / "config").mkdir()
    env_files = "[config/a.env, {path: b.env, required: false}]"
    root = write(
        tmp_path,
        f"services:\n  a:\n    image: x\n    env_file: {env_files}\n",
        **{"config__a.env": "A=1\n"},
    )
    assert config.load(root, environ={}).sources == (
        root / "compose.yaml",
        root / ".env",
        root / "config" / "a.env",
        root / "b.env",
    )


def test_names_that_cannot_be_part_of_devds_image_tags_are_errors(tmp_path: Path) -> None:
    """devd tags a built service devd-<project>-<service>: a compose name valid for compose but
    not in an image name is one error naming the key; an image-only service may keep it."""
    built = error_of("services:\n  a__-b:\n    build: .\n", tmp_path)
    assert built.startswith("compose.yaml: services.a__-b: service name 'a__-b' cannot be part")
    project = error_of("name: a___b\nservices:\n  web:\n    image: x\n", tmp_path)
    assert project.startswith("compose.yaml: name: project name 'a___b' cannot be part")
    assert one("  a__-b:\n    image: x\n", tmp_path).name == "a__-b"
