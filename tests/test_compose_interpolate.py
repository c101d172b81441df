"""devd.compose.interpolate: compose-spec ``${VAR}`` interpolation, checked against the rules
and, where the compose binary is installed, against ``docker compose config`` itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devd.compose.interpolate import interpolate, substitute
from devd.compose.values import Key, Warnings
from devd.errors import ConfigError
from tests.composefiles import compose_config

ENVIRON = {"SET": "value", "EMPTY": "", "OTHER": "other"}
KEY = Key("compose.yaml", "services.web.environment.X")

# (template, expected with ENVIRON): each operator on a set, an empty and an unset variable.
CASES = [
    ("plain text", "plain text"),
    ("$SET", "value"),
    ("${SET}", "value"),
    ("a${SET}b", "avalueb"),
    ("$SET/path", "value/path"),
    ("${SET:-d}", "value"),
    ("${EMPTY:-d}", "d"),
    ("${UNSET:-d}", "d"),
    ("${SET-d}", "value"),
    ("${EMPTY-d}", ""),
    ("${UNSET-d}", "d"),
    ("${SET:+alt}", "alt"),
    ("${EMPTY:+alt}", ""),
    ("${UNSET:+alt}", ""),
    ("${SET+alt}", "alt"),
    ("${EMPTY+alt}", "alt"),
    ("${UNSET+alt}", ""),
    ("$$SET", "$SET"),
    ("$${SET}", "${SET}"),
    ("cost: 5 $", "cost: 5 $"),
    ("a $ b", "a $ b"),
    ("a$1b", "a$1b"),
    ("${UNSET:-${OTHER}}", "other"),
    ("${UNSET:-${ALSO_UNSET:-deep}}", "deep"),
    ("${UNSET:-a b $$c}", "a b $c"),
    ("${UNSET:-x}}", "x}"),
    ("${UNSET:-}", ""),
    ("${SET:?must be set}", "value"),
    ("${EMPTY?must be set}", ""),
]


def expand(text: str, environ: dict[str, str] | None = None) -> str:
    return substitute(text, ENVIRON if environ is None else environ, KEY, Warnings())


@pytest.mark.parametrize(("template", "expected"), CASES)
def test_substitution_rules(template: str, expected: str) -> None:
    """Each form of compose-spec interpolation gives compose's value for a set, an empty and
    an unset variable."""
    assert expand(template) == expected


def test_unset_variable_is_blank_with_one_warning() -> None:
    """``$UNSET`` becomes ``""`` and is warned about once, as compose does, however often it
    appears; a default silences the warning."""
    warnings = Warnings()
    assert substitute("$NOPE ${NOPE} ${NOPE:-d}", {}, KEY, warnings) == "  d"
    assert warnings.lines == [
        'compose.yaml: the "NOPE" variable is not set; defaulting to a blank string'
    ]


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("${UNSET:?need it}", "required variable UNSET is missing a value: need it"),
        ("${EMPTY:?need it}", "required variable EMPTY is missing a value: need it"),
        ("${UNSET?}", "required variable UNSET is missing a value"),
    ],
)
def test_required_variable_error_names_file_and_key(template: str, message: str) -> None:
    """``${VAR:?err}``/``${VAR?err}`` stop the load with the message, naming file and key."""
    with pytest.raises(ConfigError) as error:
        expand(template)
    assert str(error.value) == f"compose.yaml: services.web.environment.X: {message}"


@pytest.mark.parametrize("template", ["${", "a ${SET", "${a.b}", "${}", "${SET!x}"])
def test_invalid_format_is_an_error_naming_the_key(template: str) -> None:
    """A ``${`` that does not close or holds no valid name is an error that names the key
    path and says how to write a literal ``$``."""
    with pytest.raises(
        ConfigError,
        match=r"^compose\.yaml: services\.web\.environment\.X: "
        r"invalid interpolation format .*write \$\$ for a literal \$",
    ):
        interpolate(template, ENVIRON, KEY, Warnings())


def test_tree_values_interpolated_keys_and_non_strings_kept() -> None:
    """Every string value of the tree is interpolated, in mappings and lists; keys, numbers,
    booleans and nulls are kept as they are."""
    tree: Any = {"${SET}": ["$SET", 1, True, None, {"k": "${OTHER}"}]}
    result = interpolate(tree, ENVIRON, Key("compose.yaml"), Warnings())
    assert result == {"${SET}": ["value", 1, True, None, {"k": "other"}]}


def test_error_path_includes_list_index() -> None:
    """An error inside a list names the item's index."""
    tree = {"services": {"web": {"ports": ["80", "${P:?no port}"]}}}
    with pytest.raises(ConfigError, match=r"^compose\.yaml: services\.web\.ports\[1\]: required"):
        interpolate(tree, {}, Key("compose.yaml"), Warnings())


def test_agrees_with_docker_compose_config(tmp_path: Path) -> None:
    """Every case gives the value ``docker compose config`` gives (the oracle needs no
    engine); the variables come from the process environment, as for compose."""
    lines = ["services:", "  web:", "    image: x", "    environment:"]
    lines += [f"      V{i}: {json.dumps(template)}" for i, (template, _) in enumerate(CASES)]
    (tmp_path / "compose.yaml").write_text("\n".join(lines) + "\n")
    theirs = compose_config(tmp_path, dict(ENVIRON))["services"]["web"]["environment"]
    for i, (template, _) in enumerate(CASES):
        # compose prints a literal $ as $$ (its own escape) in the normalised file
        assert theirs[f"V{i}"].replace("$$", "$") == expand(template), template
