"""devd.compose.health: ``healthcheck`` forms as the engine takes them, and the errors."""

from __future__ import annotations

from pathlib import Path

from devd.config import Healthcheck
from tests.composefiles import compose, error_of, write


def test_healthcheck_forms(tmp_path: Path) -> None:
    """A string test runs in a shell, a list is given as is, ``disable: true`` is NONE; no
    test keeps the image's (empty test); defaults as compose's."""
    project = compose(
        write(
            tmp_path,
            """\
services:
  a: {image: x, healthcheck: {test: curl -f localhost, interval: 500ms}}
  b: {image: x, healthcheck: {test: [CMD, curl, -f, localhost], retries: 1}}
  c: {image: x, healthcheck: {disable: true}}
  d: {image: x, healthcheck: {test: [NONE]}}
  e: {image: x, healthcheck: {interval: 5s}}
""",
        )
    )
    checks = {name: s.healthcheck for name, s in project.services.items()}
    assert checks == {
        "a": Healthcheck(("CMD-SHELL", "curl -f localhost"), interval_s=0.5),
        "b": Healthcheck(("CMD", "curl", "-f", "localhost"), retries=1),
        "c": Healthcheck(("NONE",)),
        "d": Healthcheck(("NONE",)),
        "e": Healthcheck((), interval_s=5.0),
    }


def test_bad_healthcheck_test(tmp_path: Path) -> None:
    """A list test must start with CMD, CMD-SHELL or NONE."""
    message = error_of("services:\n  a: {image: x, healthcheck: {test: [curl, x]}}\n", tmp_path)
    assert (
        message == "compose.yaml: services.a.healthcheck.test[0]: "
        'expected "CMD", "CMD-SHELL" or "NONE", got \'curl\''
    )
