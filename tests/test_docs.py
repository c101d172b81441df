"""The docs are tested: the README's commands exist and its example output is what devd says."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from devd.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _indented_blocks(text: str) -> list[list[str]]:
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.startswith("    "):
            current.append(line[4:])
        elif current and line.strip():
            blocks.append(current)
            current = []
    return blocks


def test_readme_first_screen_has_the_two_setup_commands() -> None:
    """The set-up section gives exactly two commands: run the example, run the tests."""
    section = README.split("## Set up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    commands = [block[0] for block in _indented_blocks(section + "\nend")]
    assert len(commands) == 2, commands
    assert "devd up" in commands[0]
    assert "examples/hello" in commands[0]
    assert commands[1] == "scripts/test"


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run calls the README's test command, so CI checks what a developer runs."""
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text()


def test_every_command_in_the_readme_exists() -> None:
    """Each `devd COMMAND` the README lists is a subcommand of the CLI."""
    listed = set(re.findall(r"^ {4}devd (\w+)", README, flags=re.MULTILINE))
    parser = build_parser()
    choices = next(a for a in parser._actions if a.dest == "command").choices
    assert choices is not None
    assert listed, "the README lists no commands"
    assert listed <= set(choices), listed - set(choices)


def test_readme_explain_output_is_what_devd_prints(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The `devd explain` sample in the README is the real output on the bundled example."""
    block = next(b for b in _indented_blocks(README) if b[0].startswith("$ cd examples/hello"))
    paths = block[0].split("devd explain ", 1)[1].split()
    monkeypatch.chdir(ROOT / "examples" / "hello")
    monkeypatch.delenv("DEVD_SERVICES__APP__BUILD_ARGS", raising=False)
    assert main(["explain", *paths]) == 0
    printed = [line.rstrip() for line in capsys.readouterr().out.splitlines()]
    assert printed == [line.rstrip() for line in block[1:]]


@pytest.mark.parametrize(
    "command",
    ["", "explain", "up", "build", "rebuild", "down", "status", "logs", "clean", "doctor"],
)
def test_help_works(command: str) -> None:
    """`devd --help` and every `devd COMMAND --help` print help and exit 0."""
    args = [command, "--help"] if command else ["--help"]
    result = subprocess.run(
        [sys.executable, "-m", "devd.cli", *args], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert "usage: devd" in result.stdout
