"""devd.compose.watch: ``develop.watch`` rules as WatchRule values, and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from devd.config import WatchRule
from tests.composefiles import error_of, one


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
            exec_command=("kill", "-HUP", "1"),
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
