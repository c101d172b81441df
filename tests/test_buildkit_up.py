"""``devd up`` on the Dockerfile shapes Python users get today, under BuildKit (the default):
uv's guide (a bind-mounted lock and a cache mount, the project installed after ``COPY . .``),
a multi-stage file whose test and docs stages the target skips, and awesome-compose's
``FROM --platform=$BUILDPLATFORM``. Each builds, serves a code save, and re-runs its install
step on a dependency save. Busybox stands in for Python (no network in builds here): what
is pinned is the shape, not the package manager."""

from __future__ import annotations

import pytest

from tests.updriver import Sample, UpProcess, served

pytestmark = pytest.mark.engine

SERVE = (
    'CMD ["sh", "-c", "mkdir -p /srv && cp -r /app/www/. /srv/ && cp /deps.txt /srv/deps.txt '
    '&& exec httpd -f -p 8000 -h /srv"]\n'
)

UV_SHAPED = (
    "ARG BASE\nFROM ${BASE}\nWORKDIR /app\n"
    "RUN --mount=type=cache,target=/root/.cache/uv \\\n"
    "    --mount=type=bind,source=deps.txt,target=deps.txt \\\n"
    "    cp deps.txt /deps.txt && date >> /root/.cache/uv/log\n"
    "COPY . /app\n"
    "RUN --mount=type=cache,target=/root/.cache/uv ls /app/www > /installed\n" + SERVE
)

SKIPPED_STAGES = (
    "ARG BASE\nFROM ${BASE} AS base\nWORKDIR /app\nCOPY deps.txt .\nRUN cp deps.txt /deps.txt\n\n"
    "FROM base AS test\nCOPY . .\nRUN echo the tests would run here; exit 1\n\n"
    "FROM ${BASE} AS docs\nCOPY www/ /docs/\nRUN exit 1\n\n"
    "FROM base AS app\nCOPY www/ /app/www/\n" + SERVE
)

PLATFORM = (
    "ARG BASE\nFROM --platform=$BUILDPLATFORM ${BASE} AS build\nARG TARGETARCH\nWORKDIR /b\n"
    "COPY deps.txt .\nRUN cp deps.txt /deps.txt && echo $TARGETARCH > /arch\n\n"
    "FROM ${BASE}\nCOPY --from=build /deps.txt /arch /\nCOPY www/ /app/www/\n" + SERVE
)


@pytest.mark.parametrize(
    ("dockerfile", "code_reruns"),
    [(UV_SHAPED, True), (SKIPPED_STAGES, False), (PLATFORM, False)],
    ids=["uv-shaped", "skipped-test-and-docs-stages", "platform-args"],
)
def test_the_shape_builds_serves_a_code_save_and_reruns_install_on_a_dependency_save(
    sample: Sample, dockerfile: str, code_reruns: bool
) -> None:
    """Built by BuildKit (the failing test/docs stages never run); a code save is served; a
    dependency save re-runs the install step and is served. In uv's shape the project is
    installed after ``COPY . .``, so a code save re-runs that second step too."""
    sample.write("Dockerfile", dockerfile)
    up = UpProcess(sample.root)
    try:
        served(sample.port, "version-1")
        assert up.wait_event("watching")["builders"] == {"app": "buildkit"}
        sample.write("www/index.html", "version-2")
        served(sample.port, "version-2")
        code = up.wait_event("running", count=2)
        assert code["kind"] == ("dependency" if code_reruns else "code"), code
        assert any(s.startswith("COPY") for s in code["rebuilt"]), code
        sample.write("deps.txt", "deps-2")
        served(sample.port, "deps-2", path="/deps.txt")
        dependency = up.wait_event("running", count=3)
        assert dependency["kind"] == "dependency"
        assert any("cp deps.txt /deps.txt" in s for s in dependency["rebuilt"]), dependency
    finally:
        assert up.stop() == 0
