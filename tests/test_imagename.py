"""devd.imagename: image references judged as the engine judges them (checked against it)."""

from __future__ import annotations

from typing import Any

import docker.errors
import pytest

from devd.core.imagename import is_component, reference_problem, split_reference

DIGEST = "sha256:" + "a" * 64

# reference -> what devd says (None: valid); each checked against the engine below.
CASES: dict[str, str | None] = {
    "bad:name": None,
    "python:3.11-slim": None,
    "localhost:5000/x/y:1": None,
    "x:UPPER": None,
    f"x@{DIGEST}": None,
    f"x:tag@{DIGEST}": None,
    "a__b": None,
    "a--b": None,
    "a.b.c/d": None,
    "My-Registry.io/x": None,
    "Bad:Name": "repository name must be lowercase",
    "UPPER/x": "repository name must be lowercase",
    "registry:5000/Ab": "repository name must be lowercase",
    "a..b": "invalid reference format",
    "a_": "invalid reference format",
    "a___b": "invalid reference format",
    "x:-bad": "invalid reference format",
    "-a": "invalid reference format",
    "ünicode": "invalid reference format",
    "a b": "invalid reference format",
    "x:" + "t" * 129: "invalid reference format",
    "x" * 256: "repository name must not be longer than 255 characters",
}


@pytest.mark.parametrize(("reference", "problem"), CASES.items())
def test_reference_problem(reference: str, problem: str | None) -> None:
    """Valid references pass; invalid ones get the engine's reason."""
    assert reference_problem(reference) == problem


def test_the_engine_agrees(docker_client: Any) -> None:
    """The engine refuses (400, invalid reference format) exactly the references devd
    calls invalid, and looks the others up (404)."""
    for reference, problem in CASES.items():
        said = ""
        try:
            docker_client.api.inspect_image(reference)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as error:
            said = str(error.explanation)
        assert bool(said) == (problem is not None), (reference, said)
        if problem is not None:
            assert problem.split(" ")[0] in said, (reference, said)


def test_is_component() -> None:
    """One part of a repository name: separators only between letters or digits."""
    assert is_component("devd-shop-api.v2")
    assert not is_component("api_")
    assert not is_component("Api")


@pytest.mark.parametrize(
    ("reference", "parts"),
    [
        ("me/web", ("me/web", "latest")),
        ("me/web:dev", ("me/web", "dev")),
        ("localhost:5000/web", ("localhost:5000/web", "latest")),
        ("localhost:5000/team/web:1.2", ("localhost:5000/team/web", "1.2")),
    ],
)
def test_split_reference_into_name_and_tag(reference: str, parts: tuple[str, str]) -> None:
    """A tag is what follows the last ':' after the last '/' (a registry port is not a tag);
    none given is ``latest``."""
    assert split_reference(reference) == parts
