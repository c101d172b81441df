"""The engine is the judge: devd's classification must agree with the engine's own cache.

Each scenario builds a sample project on the real engine, classifies a change with devd,
makes the change on disk, rebuilds, and compares with what the engine did:

- ``ignored``    <=> no step was rebuilt and the image is unchanged;
- ``dependency`` <=> some RUN step re-ran;
- ``code``       <=> steps were rebuilt, none of them a RUN (the image may even stay the same,
  when only a builder stage's copy changed and the target copies something else from it);
and the first step the engine rebuilt is the Dockerfile line devd named. Every scenario is
judged by both builders: the classic one (its "Using cache" lines) and BuildKit (the
``cached`` flags of its trace's vertexes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from devd import config
from devd.core.builders import Builder
from devd.core.classify import Classification, Kind, classify
from devd.engine.engine import BuildResult, Engine
from devd.project import build_view
from tests.builds import build_like_devd

pytestmark = pytest.mark.engine

DELETE = None


@dataclass(frozen=True)
class Scenario:
    """A sample project, and one change to it with the kind devd must give."""

    name: str
    dockerfile: str
    files: Mapping[str, str]
    change: tuple[str, str | None]
    kind: Kind
    devd_toml: str = ""
    dockerfile_path: str = "Dockerfile"
    extra: Mapping[str, str] = field(default_factory=dict)


PIP = """\
ARG BASE
FROM ${BASE}
WORKDIR /app
COPY req.txt .
RUN cat req.txt > /deps
COPY . .
CMD ["cat", "/app/src/main.py"]
"""

MULTI_STAGE = """\
ARG BASE
FROM ${BASE} AS builder
WORKDIR /build
COPY req.txt .
RUN cp req.txt /wheels.txt
COPY tools/ /tools/

FROM ${BASE} AS Final
COPY --from=builder /wheels.txt /deps
RUN cat /deps > /installed
WORKDIR /srv
COPY app/ ./app/
"""

GLOBS = """\
ARG BASE
FROM ${BASE}
ARG CONF=conf
ENV DEST=/etc/app
WORKDIR /opt
WORKDIR svc
COPY ${CONF}/ $DEST/
RUN ls $DEST > /list
COPY src/*.py ./py/
COPY *.txt ./
"""

UNNEEDED_STAGE = """\
ARG BASE
FROM ${BASE} AS docs
COPY docs/ /docs/
RUN cat /docs/* > /all

FROM ${BASE} AS app
COPY app/ /app/
"""

SCENARIOS = [
    Scenario(
        "requirements before RUN",
        PIP,
        {"req.txt": "a==1\n", "src/main.py": "v1\n"},
        ("req.txt", "a==2\n"),
        Kind.DEPENDENCY,
    ),
    Scenario(
        "code copied last",
        PIP,
        {"req.txt": "a==1\n", "src/main.py": "v1\n"},
        ("src/main.py", "v2\n"),
        Kind.CODE,
    ),
    Scenario(
        "new code file",
        PIP,
        {"req.txt": "a\n", "src/main.py": "v1\n"},
        ("src/new.py", "new\n"),
        Kind.CODE,
    ),
    Scenario(
        "deleted code file",
        PIP,
        {"req.txt": "a\n", "src/main.py": "v1\n", "src/old.py": "x\n"},
        ("src/old.py", DELETE),
        Kind.CODE,
    ),
    Scenario(
        "excluded by .dockerignore",
        PIP,
        {"req.txt": "a\n", "src/main.py": "v1\n", ".dockerignore": "**/*.log\nnode_modules\n"},
        ("src/debug.log", "noise\n"),
        Kind.IGNORED,
    ),
    Scenario(
        "excluded directory, re-included file",
        PIP,
        {
            "req.txt": "a\n",
            "src/main.py": "v1\n",
            ".dockerignore": "docs\n!docs/keep.md\n",
            "docs/keep.md": "k\n",
        },
        ("docs/keep.md", "k2\n"),
        Kind.CODE,
    ),
    Scenario(
        "inside an excluded directory",
        PIP,
        {
            "req.txt": "a\n",
            "src/main.py": "v1\n",
            ".dockerignore": "docs\n!docs/keep.md\n",
            "docs/x.md": "x\n",
        },
        ("docs/x.md", "x2\n"),
        Kind.IGNORED,
    ),
    Scenario(
        "multi-stage: builder input",
        MULTI_STAGE,
        {"req.txt": "a\n", "app/main.py": "v1\n", "tools/t.sh": "t\n"},
        ("req.txt", "b\n"),
        Kind.DEPENDENCY,
    ),
    Scenario(
        "multi-stage: final-stage code",
        MULTI_STAGE,
        {"req.txt": "a\n", "app/main.py": "v1\n", "tools/t.sh": "t\n"},
        ("app/main.py", "v2\n"),
        Kind.CODE,
    ),
    Scenario(
        "multi-stage: builder file the final stage never copies",
        MULTI_STAGE,
        {"req.txt": "a\n", "app/main.py": "v1\n", "tools/t.sh": "t\n"},
        ("tools/t.sh", "t2\n"),
        Kind.CODE,
    ),
    Scenario(
        "not copied at all",
        MULTI_STAGE,
        {"req.txt": "a\n", "app/main.py": "v1\n", "tools/t.sh": "t\n"},
        ("README.md", "hi\n"),
        Kind.IGNORED,
    ),
    Scenario(
        "ARG/ENV directory before RUN",
        GLOBS,
        {"conf/a.ini": "1\n", "src/m.py": "1\n", "x.txt": "1\n"},
        ("conf/a.ini", "2\n"),
        Kind.DEPENDENCY,
    ),
    Scenario(
        "glob source",
        GLOBS,
        {"conf/a.ini": "1\n", "src/m.py": "1\n", "x.txt": "1\n"},
        ("src/m.py", "2\n"),
        Kind.CODE,
    ),
    Scenario(
        "glob does not match",
        GLOBS,
        {"conf/a.ini": "1\n", "src/m.py": "1\n", "x.txt": "1\n"},
        ("src/m.md", "2\n"),
        Kind.IGNORED,
    ),
    Scenario(
        "root glob",
        GLOBS,
        {"conf/a.ini": "1\n", "src/m.py": "1\n", "x.txt": "1\n"},
        ("y.txt", "2\n"),
        Kind.CODE,
    ),
    Scenario(
        "Dockerfile-specific ignore file",
        PIP,
        {
            "req.txt": "a\n",
            "src/main.py": "v1\n",
            "build/app.Dockerfile.dockerignore": "src/secret.txt\n",
            ".dockerignore": "src/main.py\n",
        },
        ("src/secret.txt", "s\n"),
        Kind.IGNORED,
        devd_toml='[services.app]\ndockerfile = "build/app.Dockerfile"\n',
        dockerfile_path="build/app.Dockerfile",
    ),
    Scenario(
        "target leaves out a stage",
        UNNEEDED_STAGE,
        {"docs/a.md": "a\n", "app/x": "x\n"},
        ("docs/a.md", "b\n"),
        Kind.IGNORED,
        devd_toml='[services.app]\ntarget = "app"\n',
    ),
]


def _write(root: Path, files: Mapping[str, str | None]) -> None:
    for name, text in files.items():
        path = root / name
        if text is None:
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)


def _build(
    root: Path, engine: Engine, tag: str, labels: dict[str, str], base: str, builder: Builder
) -> BuildResult:
    """Build the sample the way devd does: its context, its ignore rules, the real engine."""
    return build_like_devd(root, engine, tag, labels, builder=builder, build_args={"BASE": base})


def _classify(root: Path, path: str) -> tuple[Classification, set[int]]:
    """devd's verdict, and the Dockerfile lines of the stages the target needs (the classic
    builder also builds the others; BuildKit skips them)."""
    project = config.load(root, environ={})
    view = build_view(project, project.services["app"])
    needed = {i.line for i in view.dockerfile.preamble}
    for stage in view.dockerfile.needed_stages(view.target):
        needed |= {step.instruction.line for step in stage.steps}
    return classify(path, view), needed


@pytest.mark.parametrize("builder", ["classic", "buildkit"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_engine_agrees_with_classification(
    builder: Builder,
    scenario: Scenario,
    tmp_path: Path,
    engine: Engine,
    busybox_image: str,
    image_tag: str,
    test_labels: dict[str, str],
    test_id: str,
) -> None:
    """The kind devd gives a change is what the engine's cache does with it on rebuild."""
    # A salt in every file keeps the engine's cache from earlier runs out of the verdict.
    salted = {name: f"{text}{test_id}\n" for name, text in scenario.files.items()}
    files = {**salted, scenario.dockerfile_path: scenario.dockerfile, **scenario.extra}
    if scenario.devd_toml:
        files["devd.toml"] = scenario.devd_toml
    _write(tmp_path, files)
    before = _build(tmp_path, engine, image_tag, test_labels, busybox_image, builder)
    path, content = scenario.change
    verdict, needed = _classify(tmp_path, path)
    assert verdict.kind is scenario.kind, verdict.reason

    _write(tmp_path, {path: None if content is None else content + test_id})
    after = _build(tmp_path, engine, image_tag, test_labels, busybox_image, builder)
    assert after.builder == builder
    _assert_engine_agrees(verdict, before, after, needed)


def _assert_engine_agrees(
    verdict: Classification, before: BuildResult, after: BuildResult, needed: set[int]
) -> None:
    # Steps of stages the target does not need count for nothing: BuildKit skips them, the
    # classic builder runs them but the image does not use them.
    assert all(step.line is not None for step in after.dockerfile_steps), after.steps
    rebuilt = [step for step in after.rebuilt if step.line in needed]
    reran = [step for step in rebuilt if step.keyword == "RUN"]
    if verdict.kind is Kind.IGNORED:
        assert not rebuilt, [s.label for s in rebuilt]
        assert after.image_id == before.image_id
        return
    if verdict.kind is Kind.DEPENDENCY:
        assert reran, (
            f"devd said dependency, the engine re-ran no RUN: {[s.label for s in rebuilt]}"
        )
    else:
        assert not reran, f"devd said code, the engine re-ran {[s.label for s in reran]}"
    # BuildKit runs independent stages side by side: the first rebuilt is the lowest line.
    first = min(rebuilt, key=lambda step: step.line or 0)
    assert first.line == verdict.line, (
        f"engine first rebuilt {first.label}, devd named line {verdict.line}"
    )
