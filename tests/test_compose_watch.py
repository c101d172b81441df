"""devd.compose.watch: ``develop.watch`` rules as WatchRule values, and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from devd.config import ExecHook, WatchRule
from tests.composefiles import compose, compose_config, error_of, one, write


def test_develop_watch_examples_from_compose_docs(tmp_path: Path) -> None:
    """The compose docs' watch examples: sync with ignore, rebuild on package.json,
    sync+restart, sync+exec with its command, include and initial_sync; paths become
    project-root-relative posix."""
    service = one(
        """\
  web:
    build: .
    command: npm start
    develop:
      watch:
        - action: sync
          path: ./web
          target: /src/web
          ignore:
            - node_modules/
        - action: rebuild
          path: package.json
        - action: sync+restart
          path: ./proxy/nginx.conf
          target: /etc/nginx/conf.d/default.conf
        - action: sync+exec
          path: ./web/static
          target: /src/web/static
          initial_sync: true
          include: ["*.css"]
          exec:
            command: kill -HUP 1
        - action: restart
          path: .
""",
        tmp_path,
    )
    assert service.watch == (
        WatchRule("sync", "web", "/src/web", ignore=("node_modules/",)),
        WatchRule("rebuild", "package.json"),
        WatchRule("sync+restart", "proxy/nginx.conf", "/etc/nginx/conf.d/default.conf"),
        WatchRule(
            "sync+exec",
            "web/static",
            "/src/web/static",
            include=("*.css",),
            initial_sync=True,
            exec_hook=ExecHook(("kill", "-HUP", "1")),
        ),
        WatchRule("restart", ""),
    )
    assert (service.code_action, service.command) == ("rebuild", ("npm", "start"))


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("{action: sync, path: src}", "services.web.develop.watch[0]: action sync needs a target"),
        (
            "{action: copy, path: src}",
            "services.web.develop.watch[0].action: expected sync | rebuild",
        ),
        ("{action: rebuild}", "services.web.develop.watch[0]: path is missing"),
        (
            "{action: rebuild, path: ../x}",
            "services.web.develop.watch[0].path: expected a path inside",
        ),
        ("{action: sync+exec, path: a, target: /a}", "needs exec.command"),
        (
            "{action: rebuild, path: a, ignore: x}",
            "services.web.develop.watch[0].ignore: expected a list",
        ),
    ],
)
def test_bad_watch_rules(tmp_path: Path, rule: str, message: str) -> None:
    """Watch rules missing what their action needs, or with wrong values, are errors that
    name the rule's path."""
    text = f"services:\n  web:\n    build: .\n    develop:\n      watch: [{rule}]\n"
    assert message in error_of(text, tmp_path)


EXEC_RULE = """\
services:
  web:
    build: .
    develop:
      watch:
        - action: sync+exec
          path: ./hooks
          target: /hooks
          exec:
{exec}"""


def _exec_rule(block: str) -> str:
    return EXEC_RULE.format(exec="".join(f"            {line}\n" for line in block.splitlines()))


def test_exec_user_working_dir_environment_and_privileged_are_read(tmp_path: Path) -> None:
    """exec's user, working_dir, environment (a list of KEY=VALUE, interpolated) and
    privileged become the rule's typed fields and its ExecHook, with no warning."""
    text = _exec_rule(
        "command: [sh, -c, 'echo $$GREETING']\n"
        'user: "1000:1000"\n'
        "working_dir: /srv/app\n"
        "privileged: true\n"
        "environment:\n"
        "  - GREETING=hello ${WHO}\n"
        "  - EMPTY=\n"
    )
    project = compose(write(tmp_path, text), {"WHO": "world"})
    assert project.warnings == ()
    (rule,) = project.services["web"].watch or ()
    assert (rule.exec_hook.user, rule.exec_hook.working_dir, rule.exec_hook.privileged) == (
        "1000:1000",
        "/srv/app",
        True,
    )
    assert rule.exec_hook.environment == {"GREETING": "hello world", "EMPTY": ""}
    assert rule.exec_hook == ExecHook(
        ("sh", "-c", "echo $GREETING"),
        user="1000:1000",
        working_dir="/srv/app",
        environment={"GREETING": "hello world", "EMPTY": ""},
        privileged=True,
    )


def test_exec_environment_mapping_takes_scalars_and_drops_keys_without_value(
    tmp_path: Path,
) -> None:
    """A mapping environment turns numbers and booleans into text; a key without a value
    (``KEY`` in a list, ``KEY:`` in a mapping) is left out even when the environment has it:
    compose leaves it out of the exec (unlike a service's environment)."""
    mapping = _exec_rule("command: make\nenvironment: {A: 1, B: true, C: 1.5, D:}\n")
    (rule,) = one(mapping.removeprefix("services:\n"), tmp_path, {"D": "set"}).watch or ()
    assert rule.exec_hook.environment == {"A": "1", "B": "true", "C": "1.5"}
    listed = _exec_rule("command: make\nenvironment: [D, E=e]\n")
    (rule,) = one(listed.removeprefix("services:\n"), tmp_path, {"D": "set"}).watch or ()
    assert rule.exec_hook.environment == {"E": "e"}


def test_exec_without_options_runs_as_the_container_does(tmp_path: Path) -> None:
    """Only a command: no user, working dir or environment of its own, not privileged; an
    empty user or working_dir is the same as none (as in compose)."""
    text = _exec_rule('command: make\nuser: ""\nworking_dir: ""\n')
    (rule,) = one(text.removeprefix("services:\n"), tmp_path).watch or ()
    assert rule.exec_hook == ExecHook(("make",))


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("command: make\nuser: 1000", "exec.user: expected a string, got 1000"),
        ("command: make\nworking_dir: [a]", "exec.working_dir: expected a string, got a list"),
        ("command: make\nprivileged: 1", "exec.privileged: expected true or false, got 1"),
        ("command: make\nprivileged: maybe", "exec.privileged: expected true or false"),
        (
            "command: make\nenvironment: A=1",
            "exec.environment: expected a mapping or a list of \"KEY=VALUE\", got 'A=1'",
        ),
        ("command: make\nenvironment: [1]", "exec.environment[0]: expected a string, got 1"),
        ("command: make\nenvironment: {A: [1]}", "exec.environment.A: expected a string, number"),
        ("command: make\nenvironment: ['=x']", 'exec.environment[0]: expected "KEY=VALUE"'),
        ("command: 5", "exec.command: expected a string or a list of strings, got 5"),
        ("user: me", "exec: command is missing"),
        ("command: make\ntty: true", "exec.tty: unknown key"),
    ],
)
def test_bad_exec_values_name_the_key(tmp_path: Path, block: str, message: str) -> None:
    """A wrong type under exec is one error naming its key path under the rule."""
    error = error_of(_exec_rule(block), tmp_path)
    assert f"services.web.develop.watch[0].{message}" in error, error


def test_exec_options_agree_with_docker_compose_config(tmp_path: Path) -> None:
    """The oracle: ``docker compose config`` reads the same user, working_dir, privileged and
    environment (it shows a key without a value as null; the exec leaves such keys out)."""
    text = _exec_rule(
        "command: [make]\n"
        "user: app\n"
        "working_dir: /w\n"
        'privileged: "true"\n'
        'environment: [A=1, "B=${WHO}", BARE, EMPTY=]\n'
    )
    environ = {"WHO": "me", "BARE": "set"}
    expected = compose_config(write(tmp_path, text), environ)
    oracle = expected["services"]["web"]["develop"]["watch"][0]["exec"]
    (rule,) = compose(tmp_path, environ).services["web"].watch or ()
    assert rule.exec_hook.user == oracle["user"]
    assert rule.exec_hook.working_dir == oracle["working_dir"]
    assert rule.exec_hook.privileged is oracle["privileged"]
    given = {k: v for k, v in oracle["environment"].items() if v is not None}
    assert rule.exec_hook.environment == given
