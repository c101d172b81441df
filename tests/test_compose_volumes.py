"""devd.compose.volumes: short and long ``volumes`` syntax, named and external volumes, the
warnings for options devd ignores, and the errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from devd.config import Mount
from tests.composefiles import compose, error_of, write

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
