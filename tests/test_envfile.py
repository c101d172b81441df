"""devd.envfile: the ``docker run --env-file`` format, read into a mapping.

``parse`` gets its environment passed explicitly, so no test depends on devd's own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devd.envfile import parse, read
from devd.errors import ConfigError


def test_key_value_lines() -> None:
    """Each ``KEY=VALUE`` line defines one variable; an empty value is kept as ``""``."""
    text = "A=1\nB=two words\nEMPTY=\n"
    assert parse(text, "app.env", environ={}) == {"A": "1", "B": "two words", "EMPTY": ""}


def test_comments_and_blank_lines_are_skipped() -> None:
    """Blank, whitespace-only and ``#`` lines (even indented) define nothing."""
    text = "# a comment\n\n   \n\t# indented comment\nA=1\n#B=2\n"
    assert parse(text, "app.env", environ={}) == {"A": "1"}


def test_bare_key_takes_its_value_from_environ() -> None:
    """A bare ``KEY`` takes the value from the given environment, and is left out when unset
    there (not set to empty)."""
    environ = {"TOKEN": "s3cret", "EMPTY": ""}
    result = parse("TOKEN\nMISSING\nEMPTY\n", "app.env", environ=environ)
    assert result == {"TOKEN": "s3cret", "EMPTY": ""}


def test_values_are_kept_verbatim() -> None:
    """Values are taken as written: quotes stay, ``=`` inside the value stays, ``#`` after the
    value is part of it, surrounding whitespace stays."""
    text = (
        'DOUBLE="quoted"\n'
        "SINGLE='quoted'\n"
        "URL=postgres://u:p@db/x?sslmode=require&a=b\n"
        "HASH=value # not a comment\n"
        "SPACES=  padded  \n"
        "EQ==\n"
    )
    assert parse(text, "app.env", environ={}) == {
        "DOUBLE": '"quoted"',
        "SINGLE": "'quoted'",
        "URL": "postgres://u:p@db/x?sslmode=require&a=b",
        "HASH": "value # not a comment",
        "SPACES": "  padded  ",
        "EQ": "=",
    }


def test_leading_whitespace_before_the_key_is_dropped() -> None:
    """Indentation before ``KEY`` is not part of the key."""
    assert parse("   A=1\n\tB\n", "app.env", environ={"B": "2"}) == {"A": "1", "B": "2"}


def test_later_lines_override_earlier_ones() -> None:
    """A key defined twice keeps its last value."""
    assert parse("A=1\nA=2\n", "app.env", environ={}) == {"A": "2"}


def test_windows_line_endings() -> None:
    """CRLF line endings do not leak a carriage return into values."""
    assert parse("A=1\r\nB=2\r\n", "app.env", environ={}) == {"A": "1", "B": "2"}


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("=value\n", 1),
        ("A=1\n\n# c\nMY KEY=value\n", 4),
        ("A=1\nexport B=2\n", 2),
        ("A=1\nB=2\nnot a variable\n", 3),
    ],
)
def test_bad_lines_name_the_file_and_line(text: str, line: int) -> None:
    """A line with no key, or a key containing whitespace, is a ConfigError naming
    ``file:line`` and quoting the line."""
    with pytest.raises(ConfigError) as caught:
        parse(text, "config/app.env", environ={})
    message = str(caught.value)
    assert message.startswith(f"config/app.env:{line}: ")
    assert repr(text.splitlines()[line - 1].strip()) in message


def test_read_parses_the_file(tmp_path: Path) -> None:
    """``read`` parses the file at ``path`` as UTF-8."""
    path = tmp_path / "app.env"
    path.write_text("A=1\nGREETING=héllo\n", encoding="utf-8")
    assert read(path, "services.app.env_file") == {"A": "1", "GREETING": "héllo"}


def test_read_bad_line_names_the_path(tmp_path: Path) -> None:
    """A bad line in a file read with ``read`` names that file's path and the line."""
    path = tmp_path / "app.env"
    path.write_text("A=1\n=oops\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"app\.env:2: "):
        read(path, "services.app.env_file")


def test_read_missing_file_names_the_key_and_the_path(tmp_path: Path) -> None:
    """A missing env file is a ConfigError naming the configuration key and the path."""
    path = tmp_path / "missing.env"
    with pytest.raises(ConfigError) as caught:
        read(path, "services.app.env_file")
    message = str(caught.value)
    assert "services.app.env_file" in message
    assert str(path) in message
    assert "does not exist" in message
