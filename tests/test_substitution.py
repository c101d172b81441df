"""devd.substitution: ARG/ENV references in Dockerfile words, as the builder expands them."""

from __future__ import annotations

import pytest

from devd.core.substitution import expand, unquote

VARIABLES = {"APP": "/srv/app", "EMPTY": "", "PY": "3.12", "REQS": "requirements.txt"}


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("$APP", "/srv/app"),
        ("${APP}", "/srv/app"),
        ("${APP}/src", "/srv/app/src"),
        ("$APP/src", "/srv/app/src"),
        ("python:${PY}-slim", "python:3.12-slim"),
        ("$PY$PY", "3.123.12"),
        ("no variables here", "no variables here"),
    ],
)
def test_plain_references_expand(word: str, expected: str) -> None:
    """``$VAR`` and ``${VAR}`` are replaced by the variable's value, anywhere in a word."""
    assert expand(word, VARIABLES) == expected


def test_unset_variable_expands_to_empty() -> None:
    """An unset variable expands to the empty string, as in Docker (not left as ``$X``)."""
    assert expand("/opt/$MISSING/x", VARIABLES) == "/opt//x"
    assert expand("${MISSING}", VARIABLES) == ""


def test_bare_reference_takes_the_longest_name() -> None:
    """``$APPX`` names the variable ``APPX`` (unset), not ``$APP`` followed by ``X``."""
    assert expand("$APPX", VARIABLES) == ""


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("${MISSING:-requirements.txt}", "requirements.txt"),
        ("${EMPTY:-fallback}", "fallback"),
        ("${PY:-3.11}", "3.12"),
        ("${MISSING-fallback}", "fallback"),
        ("${EMPTY-fallback}", ""),
        ("${PY-fallback}", "3.12"),
    ],
)
def test_default_operators(word: str, expected: str) -> None:
    """``:-`` falls back when unset or empty; ``-`` only when unset."""
    assert expand(word, VARIABLES) == expected


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("${PY:+set}", "set"),
        ("${EMPTY:+set}", ""),
        ("${MISSING:+set}", ""),
        ("${EMPTY+set}", "set"),
        ("${MISSING+set}", ""),
    ],
)
def test_alternative_operators(word: str, expected: str) -> None:
    """``:+`` gives the word when set and non-empty; ``+`` whenever set."""
    assert expand(word, VARIABLES) == expected


def test_default_word_is_expanded() -> None:
    """Variables inside the default word are expanded too."""
    assert expand("${MISSING:-$APP/lib}", VARIABLES) == "/srv/app/lib"


def test_nested_braced_reference_in_default() -> None:
    """``${A:-${B}}`` expands the nested reference (the word ends at the matching brace)."""
    assert expand("${MISSING:-${REQS}}", VARIABLES) == "requirements.txt"
    assert expand("${MISSING:-${ALSO_MISSING:-base.txt}}/x", VARIABLES) == "base.txt/x"
    assert expand("${PY:-${REQS}}", VARIABLES) == "3.12"


def test_brace_inside_default_word_is_literal() -> None:
    """An opening brace that starts no reference is ordinary text in the default word."""
    assert expand("${MISSING:-a{b}", VARIABLES) == "a{b"


def test_escaped_dollar_stays_literal() -> None:
    """``\\$VAR`` is not expanded; the backslash is removed."""
    assert expand("\\$APP", VARIABLES) == "$APP"


def test_lone_dollar_and_positional_are_left_alone() -> None:
    """A ``$`` not followed by a name is kept as written."""
    assert expand("cost: $", VARIABLES) == "cost: $"
    assert expand("$1", VARIABLES) == "$1"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"two words"', "two words"),
        ("'single quoted'", "single quoted"),
        ("plain", "plain"),
        ("a\\ b", "a b"),
        ('"it\'s"', "it's"),
        ("'back\\slash'", "back\\slash"),
        ('mixed"quo"ted', "mixedquoted"),
    ],
)
def test_unquote_removes_one_level_of_shell_quotes(value: str, expected: str) -> None:
    """ENV/ARG values lose one level of quotes; backslash escapes outside single quotes."""
    assert unquote(value) == expected


def test_single_quoted_or_escaped_dollar_survives_expansion() -> None:
    """``ENV A='$B'`` and ``ENV A=\\$B`` keep ``$B`` literally; double quotes still expand."""
    assert expand(unquote("'$APP'"), VARIABLES) == "$APP"
    assert expand(unquote("\\$APP"), VARIABLES) == "$APP"
    assert expand(unquote('"\\$APP"'), VARIABLES) == "$APP"
    assert expand(unquote('"$APP/x"'), VARIABLES) == "/srv/app/x"
