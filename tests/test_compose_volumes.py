"""devd.compose.volumes: short and long ``volumes`` syntax, named and external volumes, the
warnings for options devd ignores, and the errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from devd.config import ExternalVolume, Mount
from tests.composefiles import compose, compose_config, error_of, write

# -- volumes ---------------------------------------------------------------------------------


def test_volumes_short_and_long(tmp_path: Path) -> None:
    """Short and long volume syntax: relative and absolute binds, ``~``, named (scoped),
    anonymous, tmpfs, ``:ro``/``read_only``; external and explicitly named volumes keep
    their name and an external one is not the project's to create."""
    project = compose(
        write(
            tmp_path / "p",
            """\
services:
  a:
    image: x
    volumes:
      - ./src:/app:ro
      - /abs:/x
      - ~/cache:/cache
      - data:/data:rw
      - /anonymous
      - shared:/shared
      - type: bind
        source: ./conf
        target: /etc/conf
        read_only: true
      - {type: volume, source: named, target: /n}
      - {type: volume, target: /anon2}
      - {type: tmpfs, target: /tmp}
volumes:
  data:
  shared: {external: true}
  named: {name: my-volume}
""",
        ),
        project=None,
    )
    root, home = tmp_path / "p", Path.home()
    assert project.services["a"].volumes == (
        Mount("bind", str(root / "src"), "/app", True),
        Mount("bind", "/abs", "/x"),
        Mount("bind", str(home / "cache"), "/cache"),
        Mount("volume", "p_data", "/data"),
        Mount("volume", "", "/anonymous"),
        Mount("volume", "shared", "/shared"),
        Mount("bind", str(root / "conf"), "/etc/conf", True),
        Mount("volume", "my-volume", "/n"),
        Mount("volume", "", "/anon2"),
        Mount("tmpfs", "", "/tmp"),
    )
    assert project.volumes == ("p_data", "my-volume")


@pytest.mark.parametrize(
    ("volume", "message"),
    [
        (
            "data:/data",
            "services.a.volumes[0]: the named volume 'data' is not declared in the top-level",
        ),
        ("./x:relative", "services.a.volumes[0]: expected an absolute container path"),
        ("a:b:c:d", "services.a.volumes[0]: expected a volume such as"),
        (
            "{type: npipe, target: /x}",
            'services.a.volumes[0].type: expected "bind", "volume" or "tmpfs"',
        ),
        ("{type: bind, target: /x}", "services.a.volumes[0]: a bind mount needs a source"),
        (
            "{type: volume, source: data}",
            "services.a.volumes[0]: the container path (target) is missing",
        ),
    ],
)
def test_bad_volumes(tmp_path: Path, volume: str, message: str) -> None:
    """An undeclared named volume (as compose), a relative container path, or a long-syntax
    mount missing what it needs is an error naming the item."""
    text = f"services:\n  a:\n    image: x\n    volumes:\n      - {volume}\n"
    assert message in error_of(text, tmp_path)


def test_volume_options_devd_ignores_are_warned(tmp_path: Path) -> None:
    """Mount options and volume drivers devd does not apply are warned about, one each."""
    project = compose(
        write(
            tmp_path,
            """\
services:
  a:
    image: x
    volumes:
      - ./x:/x:z,nocopy
      - {type: volume, source: d, target: /d, volume: {nocopy: true}}
volumes:
  d: {driver: local}
""",
        )
    )
    assert project.warnings == (
        "compose.yaml: volumes.d.driver: ignored, devd does not support it",
        "compose.yaml: services.a.volumes[0]: ignored, "
        "devd does not support the volume option 'nocopy'",
        "compose.yaml: services.a.volumes[1].volume.nocopy: ignored, devd does not support it",
    )


# -- top-level volumes: name and external ----------------------------------------------------

NAMED_AND_EXTERNAL = """\
services:
  a:
    image: x
    volumes: ["plain:/p", "lit:/l", "ext:/e", "extnamed:/en", "legacy:/lg", "strtrue:/s"]
volumes:
  plain:
  lit: {name: literal-name}
  ext: {external: true}
  extnamed: {external: true, name: "${VOLUME:-fallback}"}
  legacy: {external: {name: old-style}}
  strtrue: {external: "true", name: ""}
"""


def test_external_and_named_volumes(tmp_path: Path) -> None:
    """``name:`` is the literal engine name (external or not; "" counts as unset); an external
    volume without it is named by its key; ``external: {name: X}`` is the deprecated spelling
    of an external X (one warning); only the non-external are the project's to create, and
    each external one keeps the key it is declared under for messages."""
    project = compose(write(tmp_path / "p", NAMED_AND_EXTERNAL), {"VOLUME": "from-env"})
    assert [m.source for m in project.services["a"].volumes] == [
        "p_plain",
        "literal-name",
        "ext",
        "from-env",
        "old-style",
        "strtrue",
    ]
    assert project.volumes == ("p_plain", "literal-name")
    assert project.external_volumes == (
        ExternalVolume("compose.yaml: volumes.ext", "ext"),
        ExternalVolume("compose.yaml: volumes.extnamed", "from-env"),
        ExternalVolume("compose.yaml: volumes.legacy", "old-style"),
        ExternalVolume("compose.yaml: volumes.strtrue", "strtrue"),
    )
    assert project.warnings == (
        "compose.yaml: volumes.legacy.external.name: deprecated (as in compose); "
        "set name and external: true",
    )


def test_external_and_named_volumes_agree_with_dockercompose_config(tmp_path: Path) -> None:
    """The engine names and the external flags are compose's own (``docker compose config``)."""
    root = write(tmp_path / "p", NAMED_AND_EXTERNAL)
    theirs = compose_config(root, {"VOLUME": "from-env"})
    ours = compose(root, {"VOLUME": "from-env"})
    external = {v.name for v in ours.external_volumes}
    their_mounts = theirs["services"]["a"]["volumes"]
    for their, mount in zip(their_mounts, ours.services["a"].volumes, strict=True):
        key = their["source"]
        declared = theirs["volumes"][key]
        assert (mount.source, mount.source in external) == (
            declared.get("name", key),  # compose leaves an empty name out: the key
            declared.get("external", False),
        ), key


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{external: 3}", "volumes.v.external: expected true or false, got 3"),
        ("{external: nope}", "volumes.v.external: expected true or false, got 'nope'"),
        ("{name: 5}", "volumes.v.name: expected a string, got 5"),
        ("[a]", "volumes.v: expected a mapping, got a list"),
        ("{external: {name: 5}}", "volumes.v.external.name: expected a string, got 5"),
        ("{external: {nam: x}}", "volumes.v.external.nam: unknown key"),
        (
            "{external: {name: a}, name: b}",
            "volumes.v: name and external.name conflict; only use name",
        ),
        ("{external: true, driver: local}", 'volumes.v: "external" and "driver" conflict'),
        ("{external: true, labels: {a: b}}", 'volumes.v: "external" and "labels" conflict'),
    ],
)
def test_bad_top_level_volumes(tmp_path: Path, body: str, message: str) -> None:
    """A wrong ``external`` or ``name``, or an external volume with settings for creating it
    (compose rejects both), is one line naming the key path."""
    text = f"services:\n  a:\n    image: x\nvolumes:\n  v: {body}\n"
    error = error_of(text, tmp_path)
    assert "\n" not in error
    assert error.startswith("compose.yaml: ")
    assert message in error
