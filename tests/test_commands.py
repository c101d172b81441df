"""The one-shot commands (devd.commands) with a fake engine: which services ``devd rebuild`` and
``devd build`` read and start. The same against the real engine is in tests/test_stack_up.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from devd.commands import build, rebuild, select
from devd.config import Dependency, ProjectConfig
from devd.engine.container_spec import ContainerInfo, ContainerSpec
from devd.errors import DockerfileError
from tests.fakeengine import FakeContainers, FakeEngine
from tests.stackdriver import Recorder, project, service

BROKEN = "RUN true\n"  # no FROM: the Dockerfile model refuses it


class StackContainers(FakeContainers):
    """Every replace starts a running container; the services looked up and started are
    kept (``looked_up``, ``started``)."""

    def __init__(self, world: FakeEngine) -> None:
        super().__init__(world)
        self.looked_up: list[str | None] = []
        self.started: list[str] = []

    def of_project(self, project: str, service: str | None = None) -> list[ContainerInfo]:
        self.looked_up.append(service)
        return []

    def replace(self, spec: ContainerSpec) -> ContainerInfo:
        self.started.append(spec.service)
        info = (f"c-{spec.service}", spec.name, spec.image, spec.service, "running", None, "now")
        return ContainerInfo(*info)


class StackEngine(FakeEngine):
    """Just enough engine for ``devd rebuild`` of image-only services."""

    def __init__(self) -> None:
        super().__init__()
        self.containers = StackContainers(self)
        self.looked_up = self.containers.looked_up
        self.started = self.containers.started


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """devd's state (build record, run lock) in the test's directory."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def _project(root: Path, good_needs: tuple[Dependency, ...] = ()) -> ProjectConfig:
    """``good`` (image-only, needing ``good_needs``), ``db`` (image-only) and ``broken``, whose
    Dockerfile has no FROM."""
    (root / "broken").mkdir()
    (root / "broken" / "Dockerfile").write_text(BROKEN)
    good = service("good", root, build=False, image="box", depends_on=good_needs)
    db = service("db", root, build=False, image="box")
    return project(root, "p", good, db, service("broken", root, context="broken"))


def _rebuild(config: ProjectConfig, engine: StackEngine, names: list[str]) -> int:
    out = Recorder(list(config.services))
    return rebuild(config, engine, out, select(config, names), no_cache=False)


def test_rebuild_of_one_service_reads_and_starts_only_it_and_what_it_needs(
    tmp_path: Path,
) -> None:
    """``devd rebuild good`` (good depends on db): db and good are looked up and started, in
    that order; broken, unrelated, is neither read nor looked up, so its broken Dockerfile
    does not matter."""
    engine = StackEngine()
    config = _project(tmp_path, (Dependency("db"),))
    assert _rebuild(config, engine, ["good"]) == 0
    assert engine.looked_up == ["db", "good"]
    assert engine.started == ["db", "good"]


def test_a_broken_service_asked_for_is_one_error_naming_it_and_its_file(tmp_path: Path) -> None:
    """``devd rebuild broken`` and ``devd build broken``: a DockerfileError (exit 2) naming the
    service, the file and the line; nothing started."""
    engine = StackEngine()
    config = _project(tmp_path)
    expected = r"^service 'broken': broken/Dockerfile:1: RUN true: expected FROM"
    with pytest.raises(DockerfileError, match=expected) as caught:
        _rebuild(config, engine, ["broken"])
    assert caught.value.exit_code == 2
    out = Recorder(list(config.services))
    with pytest.raises(DockerfileError, match=expected):
        build(config, engine, out, ["broken"], no_cache=False)
    assert engine.started == []


def test_a_broken_dependency_is_an_error_naming_it_and_who_needs_it(tmp_path: Path) -> None:
    """good depends on broken: ``devd rebuild good`` fails before starting anything, naming
    broken, its file, and good as the service that needs it."""
    engine = StackEngine()
    config = _project(tmp_path, (Dependency("broken"),))
    expected = r"^service 'broken' \(needed by good\): broken/Dockerfile:1: "
    with pytest.raises(DockerfileError, match=expected):
        _rebuild(config, engine, ["good"])
    assert engine.started == []


def test_rebuild_without_names_still_reads_every_service(tmp_path: Path) -> None:
    """``devd rebuild`` with no names means every service: broken's Dockerfile is read, and
    its error stops the command before anything is started."""
    engine = StackEngine()
    config = _project(tmp_path)
    with pytest.raises(DockerfileError, match=r"^service 'broken': broken/Dockerfile:1: "):
        _rebuild(config, engine, [])
    assert engine.started == []
