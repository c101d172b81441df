"""devd.cli: ``devd explain`` output, path handling, and exit codes with one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from devd.cli import main

DOCKERFILE = """\
FROM python:3.12-slim
WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
"""

WORKER_DOCKERFILE = """\
FROM python:3.12-slim
COPY worker/ /worker/
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A one-service project (no devd.toml) as the current directory, with no DEVD_* set."""
    for name in ("DEVD_LOG_FORMAT", "DEVD_VERBOSE", "DEVD_SERVICES", "DEVD_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / "shop"
    (root / "app").mkdir(parents=True)
    (root / "Dockerfile").write_text(DOCKERFILE)
    (root / "requirements.txt").write_text("flask\n")
    (root / "app" / "main.py").write_text("print('hi')\n")
    (root / ".dockerignore").write_text("*.md\n")
    monkeypatch.chdir(root)
    return root


def two_services(root: Path) -> None:
    (root / "devd.toml").write_text(
        '[services.web]\n\n[services.worker]\ndockerfile = "worker.Dockerfile"\n'
    )
    (root / "worker.Dockerfile").write_text(WORKER_DOCKERFILE)


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def explain_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    code, out, err = run(["explain", "--json", *args], capsys)
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert isinstance(data, list)
    return data


def test_explain_prints_a_table(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The human output has one row per path and service: path, service, kind, reason."""
    code, out, err = run(["explain", "requirements.txt", "app/main.py", "README.md"], capsys)
    assert code == 0
    assert err == ""
    rows = out.splitlines()
    assert len(rows) == 3
    assert rows[0].split()[:3] == ["requirements.txt", "app", "dependency"]
    assert "Dockerfile:3 `COPY requirements.txt .`" in rows[0]
    assert "Dockerfile:4 `RUN pip install -r requirements.txt` re-runs" in rows[0]
    assert rows[1].split()[:3] == ["app/main.py", "app", "code"]
    assert "/app/app/main.py" in rows[1]
    assert rows[2].split()[:3] == ["README.md", "app", "ignored"]
    assert "'*.md'" in rows[2]
    # the kind and reason columns start at the same offset on every row
    assert len({row.index(" app ") for row in rows}) == 1
    starts = {
        row.index(word) for row, word in zip(rows, ["feeds", "copied", "excluded"], strict=True)
    }
    assert len(starts) == 1


def test_explain_json_shape(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--json`` prints a list of objects with at least path, service, kind and reason."""
    data = explain_json(["requirements.txt", "app/main.py"], capsys)
    assert [(d["path"], d["service"], d["kind"]) for d in data] == [
        ("requirements.txt", "app", "dependency"),
        ("app/main.py", "app", "code"),
    ]
    for item in data:
        assert isinstance(item["reason"], str)
        assert item["reason"]
    assert data[0]["line"] == 3
    assert data[0]["run_line"] == 4
    assert data[1]["destination"] == "/app/app/main.py"


def test_explain_every_service_by_default(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without ``--service`` each path is explained for every service."""
    two_services(project)
    data = explain_json(["worker/jobs.py"], capsys)
    assert {(d["service"], d["kind"]) for d in data} == {("web", "code"), ("worker", "code")}


def test_explain_service_filter(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--service NAME`` explains for that service only."""
    two_services(project)
    data = explain_json(["--service", "worker", "app/main.py", "worker.Dockerfile"], capsys)
    assert [(d["service"], d["path"], d["kind"]) for d in data] == [
        ("worker", "app/main.py", "ignored"),
        ("worker", "worker.Dockerfile", "dockerfile"),
    ]


def test_explain_unknown_service_exits_2(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown ``--service`` exits 2 with one line naming it and the known services."""
    two_services(project)
    code, out, err = run(["explain", "--service", "api", "app/main.py"], capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("devd: --service: no service 'api'")
    assert "web, worker" in err


def test_explain_path_relative_to_a_subdirectory(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PATH is relative to the current directory, also below the project root (``-C``)."""
    monkeypatch.chdir(project / "app")
    code, out, err = run(
        ["-C", "..", "explain", "--json", "main.py", "../requirements.txt"], capsys
    )
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert [(d["path"], d["kind"]) for d in data] == [
        ("app/main.py", "code"),
        ("requirements.txt", "dependency"),
    ]


def test_explain_absolute_path(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An absolute PATH inside the project is made project-relative."""
    data = explain_json([str(project / "app" / "main.py")], capsys)
    assert [(d["path"], d["kind"]) for d in data] == [("app/main.py", "code")]


def test_explain_path_that_does_not_exist(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A PATH that does not exist yet is classified like any other (COPY . . would read it)."""
    assert not (project / "app" / "new.py").exists()
    data = explain_json(["app/new.py"], capsys)
    assert [(d["path"], d["kind"]) for d in data] == [("app/new.py", "code")]


def test_explain_path_outside_the_project(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A PATH outside the project is one row: ignored, devd up does not watch it, no image
    gets it (not one "outside the build context" row per service)."""
    two_services(project)
    elsewhere = project.parent / "elsewhere.py"
    code, out, err = run(["explain", str(elsewhere)], capsys)
    assert (code, err) == (0, "")
    assert out.split(None, 3) == [
        str(elsewhere),
        "-",
        "ignored",
        f"outside the project {project}/: devd up does not watch it; no service's image gets it\n",
    ]


def test_explain_dockerfile_and_ignore_file(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Dockerfile and the .dockerignore are explained as ``dockerfile`` changes."""
    data = explain_json(["Dockerfile", ".dockerignore"], capsys)
    assert [d["kind"] for d in data] == ["dockerfile", "dockerfile"]


def test_bad_devd_toml_exits_2_with_one_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Invalid configuration: exit 2, one ``devd: `` line on stderr, no traceback."""
    (project / "devd.toml").write_text('[services.app]\nports = ["99999:1"]\n')
    code, out, err = run(["explain", "app/main.py"], capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("devd: devd.toml: services.app.ports:")
    assert "Traceback" not in err


def test_bad_toml_syntax_exits_2(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A TOML syntax error exits 2 naming the file and line."""
    (project / "devd.toml").write_text("[services.app\n")
    code, _, err = run(["explain", "app/main.py"], capsys)
    assert code == 2
    assert err.startswith("devd: devd.toml: not valid TOML")
    assert "line 1" in err
    assert err.count("\n") == 1


def test_bad_environment_exits_2(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad DEVD_* variable exits 2 naming it."""
    monkeypatch.setenv("DEVD_DEBOUNCE_MS", "later")
    code, _, err = run(["explain", "app/main.py"], capsys)
    assert code == 2
    assert err.startswith("devd: environment DEVD_DEBOUNCE_MS:")


def test_missing_dockerfile_exits_2(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A service whose Dockerfile does not exist: exit 2 naming the file and the service."""
    (project / "Dockerfile").unlink()
    code, _, err = run(["explain", "app/main.py"], capsys)
    assert code == 2
    assert err.startswith("devd: Dockerfile: Dockerfile of service 'app' not found")
    assert err.count("\n") == 1


def test_broken_dockerfile_exits_2_with_the_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Dockerfile with an unknown instruction: exit 2, message with file and line."""
    (project / "Dockerfile").write_text("FROM python\nCOPPY . .\n")
    code, _, err = run(["explain", "app/main.py"], capsys)
    assert code == 2
    assert err.startswith("devd: Dockerfile:2: unknown instruction")
    assert err.count("\n") == 1


def test_unknown_target_exits_2_listing_stages(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A configured target that is not a stage: exit 2, listing the stages."""
    (project / "Dockerfile").write_text("FROM python AS Base\nFROM base AS dev\n")
    (project / "devd.toml").write_text('[services.app]\ntarget = "prod"\n')
    code, _, err = run(["explain", "app/main.py"], capsys)
    assert code == 2
    assert "no stage 'prod'" in err
    assert "base, dev" in err


@pytest.mark.parametrize("args", [["--help"], ["explain", "--help"], ["--version"]])
def test_help_and_version_succeed(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """``devd --help``, ``devd explain --help`` and ``--version`` exit 0 with text."""
    with pytest.raises(SystemExit) as caught:
        main(args)
    assert caught.value.code == 0
    assert "devd" in capsys.readouterr().out


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """No command, or ``explain`` without PATH, is a usage error: exit 2."""
    for args in ([], ["explain"], ["frobnicate"]):
        with pytest.raises(SystemExit) as caught:
            main(args)
        assert caught.value.code == 2
    assert "usage:" in capsys.readouterr().err


COMPOSE_FILE = """\
services:
  web:
    build: .
    deploy: {replicas: 2}
    depends_on: [db]
  db:
    image: postgres:16
"""


def test_explain_in_a_compose_project(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With a compose.yaml and no devd services, explain works per compose service: the built
    one is classified from its Dockerfile; the image-only one, which no file feeds, has a row
    only when asked for by name. The warnings (compose keys devd ignores) go to stderr, one
    line each, only with -v (devd up prints them); the exit code is 0 either way."""
    (project / "compose.yaml").write_text(COMPOSE_FILE)
    code, out, err = run(["explain", "--json", "app/main.py"], capsys)
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert [(d["service"], d["kind"]) for d in data] == [("web", "code")]
    warning = (
        "devd: warning: compose.yaml: services.web.deploy: ignored, devd does not support it\n"
    )
    for flags in (["-v", "explain"], ["explain", "--verbose"]):
        code, out, err = run([*flags, "--json", "app/main.py"], capsys)
        assert (code, err) == (0, warning)
    code, out, err = run(["explain", "--json", "--service", "db", "app/main.py"], capsys)
    [row] = json.loads(out)
    assert row["reason"] == "service db has no build (runs image postgres:16): no file feeds it"


def test_a_missing_env_file_is_a_warning_in_explain_and_an_error_in_up(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """explain needs no env file: a missing one is one warning, exit 0 (it was exit 2); up
    and rebuild, which start containers, stop with that line and exit 2 before reaching the
    engine; status, logs, down and clean say nothing about it (nor about ignored keys)."""
    (project / "compose.yaml").write_text(
        "services:\n  web:\n    build: .\n    env_file: .env.dev\n    deploy: {replicas: 2}\n"
    )
    missing = (
        f"compose.yaml: services.web.env_file: env file {project / '.env.dev'} does not exist; "
        "create it or remove it"
    )
    code, _, err = run(["explain", "app/main.py"], capsys)
    assert (code, err) == (0, f"devd: warning: {missing}\n")
    for command in (["up"], ["rebuild"]):
        assert run(command, capsys) == (2, "", f"devd: {missing}\n")
    for command in (["status"], ["logs"], ["down"], ["clean"], ["build", "--help"]):
        quiet = subprocess.run(
            [sys.executable, "-m", "devd.cli", *command], capture_output=True, text=True,
            timeout=60, check=False, env={"PATH": "/usr/bin:/bin", "DOCKER_HOST": "unix:///nope"},
        )  # fmt: skip
        assert "warning" not in quiet.stderr, quiet.stderr
        assert "env_file" not in quiet.stderr, quiet.stderr


def test_compose_files_and_profiles_from_the_command_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``-f FILE`` (again for each file to merge, relative to the project directory) and
    ``--profile NAME`` choose the compose files and profiles, as docker compose's flags do;
    without them compose.yaml and its override file count."""
    (project / "compose.yaml").write_text("services:\n  web:\n    build: .\n")
    (project / "compose.override.yaml").write_text(
        "services:\n  tool:\n    build: .\n    profiles: [tools]\n"
    )
    (project / "other.yaml").write_text("services:\n  api:\n    build: .\n")

    def services(*flags: str) -> list[object]:
        code, out, err = run([*flags, "explain", "--json", "app/main.py"], capsys)
        assert code == 0, err
        return [row["service"] for row in json.loads(out)]

    assert services() == ["web"]
    assert services("--profile", "tools") == ["web", "tool"]
    assert services("-C", str(project), "-f", "compose.yaml", "-f", "other.yaml") == ["web", "api"]


def test_invalid_compose_file_exits_2_with_one_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An invalid compose file stops devd with exit 2 and one line naming file and key path."""
    (project / "compose.yaml").write_text("services:\n  web:\n    build: .\n    ports: ['x']\n")
    code, out, err = run(["explain", "app/main.py"], capsys)
    assert (code, out) == (2, "")
    assert err.startswith("devd: compose.yaml: services.web.ports[0]: expected a port such as")
    assert err.count("\n") == 1


def test_compose_service_missing_dockerfile_names_the_compose_key(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A compose service whose Dockerfile is missing points at the compose key to set, not at
    devd.toml."""
    (project / "compose.yaml").write_text("services:\n  web:\n    build: {dockerfile: Nope}\n")
    code, _, err = run(["explain", "app/main.py"], capsys)
    assert code == 2
    assert err == (
        "devd: Nope: Dockerfile of service 'web' not found; "
        "create it or set services.web.build.dockerfile in compose.yaml\n"
    )


def test_explain_config_files_of_a_compose_project(project: Path) -> None:
    """``devd explain`` on compose.yaml, its .env and an env_file it names: a ``config`` row
    first (a save during devd up reloads; what the file configures), then what each service's
    image sees of it: compose.yaml is copied by ``COPY . .`` (code), .env is excluded."""
    (project / ".dockerignore").write_text("*.md\n.env\n")
    (project / "compose.yaml").write_text(
        "services:\n  web:\n    build: .\n    env_file: web.env\n  db:\n    image: pg:16\n"
    )
    (project / "web.env").write_text("A=1\n")
    result = subprocess.run(
        [sys.executable, "-m", "devd.cli", "explain", "--json", "compose.yaml", ".env", "web.env"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (result.returncode, result.stderr) == (0, "")
    data = json.loads(result.stdout)
    assert [(d["path"], d.get("service"), d["kind"]) for d in data] == [
        ("compose.yaml", None, "config"),
        ("compose.yaml", "web", "code"),
        (".env", None, "config"),
        (".env", "web", "ignored"),
        ("web.env", None, "config"),
        ("web.env", "web", "code"),
    ]
    assert data[0]["services"] == ["web", "db"]
    assert "a save during devd up reloads the configuration" in data[0]["reason"]
    assert data[1]["destination"] == "/app/compose.yaml"
    assert data[4]["reason"].startswith("an env_file of compose.yaml (its services take")


def test_explain_devd_toml(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``devd explain devd.toml`` in a devd.toml project: the config row names the services it
    defines and says a save reloads; the per-service rows say what the images see of it."""
    two_services(project)
    (project / ".dockerignore").write_text("*.md\ndevd.toml\n")
    code, out, err = run(["explain", "devd.toml"], capsys)
    assert (code, err) == (0, "")
    rows = out.splitlines()
    assert [row.split()[:3] for row in rows] == [
        ["devd.toml", "-", "config"],
        ["devd.toml", "web", "ignored"],
        ["devd.toml", "worker", "ignored"],
    ]
    assert "devd's settings (devd.toml), defines services web, worker: a save during" in rows[0]
    assert "a change to ignore only changes what is watched" in rows[0]
