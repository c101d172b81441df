"""devd.compose.files: which compose file is read (compose's precedence) and how its YAML is
read (YAML 1.2 like compose, repeated keys refused, errors with line and column)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devd.compose import load
from devd.config import PortMapping
from tests.composefiles import compose, compose_config, error_of, one, write

# -- which file ------------------------------------------------------------------------------


def test_no_compose_file_gives_none(tmp_path: Path) -> None:
    """Without a compose file there is nothing to load (devd's own default applies)."""
    assert load(tmp_path, {}) is None


@pytest.mark.parametrize(
    "names",
    [
        ["compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"],
        ["compose.yml", "docker-compose.yml"],
        ["docker-compose.yml", "docker-compose.yaml"],
        ["docker-compose.yaml"],
    ],
)
def test_file_precedence_is_composes(tmp_path: Path, names: list[str]) -> None:
    """The first of compose.yaml, compose.yml, docker-compose.yml, docker-compose.yaml wins
    (``.yml`` before ``.yaml`` for docker-compose, as compose has it: devd had them the other
    way round), with a warning naming the others when there are several; compose's own
    choice (``docker compose config``) is the same."""
    for name in names:
        (tmp_path / name).write_text(f"services:\n  s{len(name)}:\n    image: x\n")
    project = compose(tmp_path)
    assert project.file == tmp_path / names[0]
    assert list(project.services) == list(compose_config(tmp_path)["services"])
    if len(names) > 1:
        assert project.warnings[0] == (
            f"found {', '.join(names[1:])} too; using {names[0]}, as compose does"
        )
    else:
        assert project.warnings == ()


# -- YAML as compose reads it -----------------------------------------------------------------


def test_yaml_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    """A YAML syntax error names the file, line and column."""
    message = error_of("services:\n  web:\n    image: [x\n", tmp_path)
    assert message.startswith("compose.yaml:4:1: not valid YAML: ")


def test_repeated_key_is_an_error(tmp_path: Path) -> None:
    """A key repeated in one mapping is an error with both lines, as in compose (YAML 1.2)."""
    message = error_of("services:\n  web:\n    image: x\n    image: y\n", tmp_path)
    assert (
        message == "compose.yaml:4:5: not valid YAML: mapping key 'image' already defined at line 3"
    )


def test_yaml_12_scalars(tmp_path: Path) -> None:
    """Scalars resolve as in YAML 1.2 (compose's parser), not PyYAML's 1.1: ``80:80`` is a
    port string (not base 60), ``yes`` a string, ``010`` ten; merge keys work."""
    service = one(
        "  web:\n    image: x\n    ports: [80:80]\n    labels: {a: yes, b: 010, c: on}\n"
        "    x-base: &base {X: 1}\n    environment:\n      <<: *base\n      Y: 2\n",
        tmp_path,
    )
    assert service.ports == (PortMapping(80, 80),)
    assert service.labels == {"a": "yes", "b": "10", "c": "on"}
    assert service.environment == {"X": "1", "Y": "2"}


DOTENV = 'A="x # y"\nB=x # comment\nC=\'single\'\nexport D=1\nE="a\\nb"\nF=  spaced  \nG=a#b\n'
DOTENV_VALUES = {"A": "x # y", "B": "x", "C": "single", "D": "1", "E": "a\nb", "F": "spaced",
                 "G": "a#b"}  # fmt: skip


def test_dotenv_syntax_is_composes(tmp_path: Path) -> None:
    """``.env`` beside the compose file is read with compose's dotenv rules (quotes removed,
    ``export`` prefix, `` #`` comments after unquoted values, ``\\n`` in double quotes) and
    interpolates the file; the process environment wins over it."""
    names = ", ".join(f"{name}: ${name}" for name in DOTENV_VALUES)
    write(tmp_path, f"services:\n  w:\n    image: x\n    environment: {{{names}}}\n",
          **{".env": DOTENV})  # fmt: skip
    assert compose(tmp_path).services["w"].environment == DOTENV_VALUES
    assert compose(tmp_path, {"A": "process"}).services["w"].environment["A"] == "process"


def test_dotenv_agrees_with_docker_compose_config(tmp_path: Path) -> None:
    """The same ``.env`` gives compose's own values (``docker compose config``)."""
    names = ", ".join(f"{name}: ${name}" for name in DOTENV_VALUES)
    write(tmp_path, f"services:\n  w:\n    image: x\n    environment: {{{names}}}\n",
          **{".env": DOTENV})  # fmt: skip
    assert compose_config(tmp_path)["services"]["w"]["environment"] == DOTENV_VALUES
