"""devd.builders: which builder "auto" means, and the features a builder lacks."""

from __future__ import annotations

import pytest

from devd.core.builders import (
    frontend_failure,
    recommended,
    registry_refusal,
    resolve,
    unsupported,
)
from devd.core.dockerfile import parse

DOCKER_INIT = """\
# syntax=docker/dockerfile:1
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim AS base
WORKDIR /app
RUN --mount=type=cache,target=/root/.cache/pip \\
    --mount=type=bind,source=requirements.txt,target=requirements.txt \\
    python -m pip install -r requirements.txt
COPY . .
CMD ["python", "app.py"]
"""

EVERYTHING = """\
FROM --platform=$BUILDPLATFORM python:3.11 AS build
COPY --chmod=755 run.sh /run.sh
COPY --link app/ /app/
RUN <<EOF
echo hi
EOF
FROM build
"""


@pytest.mark.parametrize(
    ("headers", "builder"),
    [
        ({"Builder-Version": "2", "Api-Version": "1.45"}, "buildkit"),
        ({"builder-version": "1", "Api-Version": "1.45"}, "classic"),
        ({"Api-Version": "1.41", "Ostype": "linux"}, "buildkit"),  # engine 20.10 says nothing
        ({"Api-Version": "1.38", "Ostype": "linux"}, "classic"),  # before BuildKit
        ({"Api-Version": "1.41", "Ostype": "windows"}, "classic"),
        ({}, "classic"),
    ],
)
def test_the_engine_recommends_a_builder_by_its_ping(headers: dict[str, str], builder: str) -> None:
    """Builder-Version decides when the engine sends it; otherwise BuildKit on a Linux engine
    of API 1.39 or newer."""
    assert recommended(headers) == builder


def test_auto_is_what_the_engine_recommends_and_the_others_are_themselves() -> None:
    assert resolve("auto", "buildkit") == "buildkit"
    assert resolve("auto", "classic") == "classic"
    assert resolve("classic", "buildkit") == "classic"
    assert resolve("buildkit", "classic") == "buildkit"


def test_docker_inits_dockerfile_needs_buildkit_under_the_classic_builder() -> None:
    """RUN --mount under the classic builder: one problem naming the line and the remedy."""
    (problem,) = unsupported(parse(DOCKER_INIT), "classic", 20)
    assert problem.message("Dockerfile") == (
        'Dockerfile:5: RUN --mount needs BuildKit (builder = "auto" or "buildkit"); '
        "or drop the --mount"
    )
    assert unsupported(parse(DOCKER_INIT), "buildkit", 20) == []


def test_every_buildkit_only_feature_is_named_under_the_classic_builder() -> None:
    problems = unsupported(parse(EVERYTHING), "classic", 20)
    features = [(p.instruction.line, p.feature) for p in problems]
    assert [line for line, _ in features] == [1, 2, 3, 4]
    assert "platform ARGs" in features[0][1]
    assert features[1][1].startswith("COPY --chmod needs BuildKit")
    assert features[2][1].startswith("COPY --link needs BuildKit")
    assert features[3][1].startswith("a heredoc needs BuildKit")


def test_engine_20_buildkit_lacks_heredocs_and_copy_link_newer_engines_have_them() -> None:
    """BuildKit of engine 20.10 (frontend 1.2) names the heredoc and COPY --link; engine 23
    and an unknown version are taken to have them."""
    old = unsupported(parse(EVERYTHING), "buildkit", 20)
    assert [(p.instruction.line, p.feature) for p in old] == [
        (3, "this engine's built-in Dockerfile frontend has no COPY --link"),
        (4, "this engine's built-in Dockerfile frontend has no heredocs"),
    ]
    assert unsupported(parse(EVERYTHING), "buildkit", 23) == []
    assert unsupported(parse(EVERYTHING), "buildkit", None) == []


def test_a_frontend_that_could_not_be_fetched_is_named_with_the_engines_reason() -> None:
    """A failure of the # syntax= frontend says so, naming the image; other failures, and
    Dockerfiles without the directive, are left as they are."""
    with_syntax = parse("# syntax=docker/dockerfile:1\nFROM x\n")
    reason = (
        "failed to solve with frontend gateway.v0: failed to do request: Head "
        '"https://registry-1.docker.io/v2/docker/dockerfile/manifests/1": no such host'
    )
    assert frontend_failure(with_syntax, "Dockerfile", reason) == (
        "Dockerfile: # syntax=docker/dockerfile:1: the engine could not fetch this Dockerfile "
        'frontend (failed to do request: Head "https://registry-1.docker.io/v2/docker/'
        'dockerfile/manifests/1": no such host); drop the line to build with the engine'
        "'s own frontend"
    )
    assert frontend_failure(with_syntax, "Dockerfile", "exit code: 1") is None
    assert frontend_failure(parse("FROM x\n"), "Dockerfile", reason) is None


def test_a_registry_refusal_is_one_line_naming_the_registry() -> None:
    """BuildKit's text for a base its registry refused (401, 403) becomes devd's line naming
    the registry and ``docker login``; any other failure is left alone."""
    said = (
        "pulling from host 127.0.0.1:5000 failed with status code [manifests 1]: 401 Unauthorized"
    )
    assert registry_refusal(f"build failed: {said}") == (
        "the registry 127.0.0.1:5000 refused the credentials from your Docker config "
        "(401 Unauthorized); docker login 127.0.0.1:5000 (devd reads your Docker config at "
        "each build)"
    )
    assert registry_refusal("build failed: exit code 1") is None
