"""The stack (devd.stack): start order, depends_on waits with a fake probe, container specs.
The same against the real engine is tests/test_stack_up.py."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest

from devd.config import Dependency, ExternalVolume, Healthcheck, Mount, PortMapping
from devd.daemon.stack import (
    Waits,
    check_external_volumes,
    check_images,
    container_spec,
    health_budget,
    needed,
    one_shot,
    start_order,
    volumes_mounted,
)
from devd.engine.container_spec import ContainerInfo
from devd.errors import ConfigError, DependencyFailed, ExternalVolumeMissing, ImageMissing
from tests.stackdriver import project, service


def test_start_order_puts_dependencies_first_and_keeps_written_order(tmp_path: Path) -> None:
    """web depends on db and cache: db and cache (as written) come first."""
    services = {
        s.name: s
        for s in (
            service("web", tmp_path, depends_on=(Dependency("db"), Dependency("cache"))),
            service("db", tmp_path),
            service("cache", tmp_path, depends_on=(Dependency("db"),)),
        )
    }
    assert start_order(services) == ["db", "cache", "web"]


def test_start_order_rejects_a_cycle_instead_of_hanging(tmp_path: Path) -> None:
    """a -> b -> a is a ConfigError naming the services (the loader should have caught it)."""
    services = {
        "a": service("a", tmp_path, depends_on=(Dependency("b"),)),
        "b": service("b", tmp_path, depends_on=(Dependency("a"),)),
        "c": service("c", tmp_path),
    }
    with pytest.raises(ConfigError, match="a, b depend on each other in a cycle"):
        start_order(services)


def test_start_order_unknown_dependency_required_or_not(tmp_path: Path) -> None:
    """An unknown required dependency is an error naming the key; an optional one is skipped."""
    with pytest.raises(ConfigError, match=r"services\.a\.depends_on: no service 'zz'"):
        start_order({"a": service("a", tmp_path, depends_on=(Dependency("zz"),))})
    optional = service("a", tmp_path, depends_on=(Dependency("zz", required=False),))
    assert start_order({"a": optional}) == ["a"]


def test_needed_is_the_services_named_and_what_they_depend_on_transitively(
    tmp_path: Path,
) -> None:
    """web -> cache -> db: web needs all three; an unrelated service and an optional
    dependency that is not a service are left out; no names, nothing."""
    services = {
        s.name: s
        for s in (
            service("web", tmp_path, depends_on=(Dependency("cache"),)),
            service(
                "cache", tmp_path, depends_on=(Dependency("db"), Dependency("zz", required=False))
            ),
            service("db", tmp_path),
            service("other", tmp_path, depends_on=(Dependency("db"),)),
        )
    }
    assert needed(services, ["web"]) == {"web", "cache", "db"}
    assert needed(services, ["db", "other"]) == {"db", "other"}
    assert needed(services, []) == set()


def test_health_budget_follows_the_healthcheck_settings() -> None:
    """start period + (retries + 1) tries of interval + timeout, plus a margin."""
    check = Healthcheck(("CMD", "true"), interval_s=1, timeout_s=2, retries=3, start_period_s=4)
    assert health_budget(check) == 4 + 4 * 3 + 5


def _info(
    status: str = "running", health: str | None = None, code: int | None = None
) -> ContainerInfo:
    return ContainerInfo("c1", "p-db", "sha256:x", "db", status, code, "now", health)


class FakeProbe:
    """A dependency that starts after ``start_after`` looks, then reports ``states`` in turn."""

    def __init__(self, states: list[ContainerInfo], start_after: int = 0, fail: str | None = None):
        self.states = states
        self.start_after = start_after
        self.fail = fail
        self.looks = 0

    def started(self, service: str) -> ContainerInfo | None:
        self.looks += 1
        return self.states[0] if self.looks > self.start_after and not self.fail else None

    def failed(self, service: str) -> str | None:
        return self.fail

    def inspect(self, container_id: str) -> ContainerInfo | None:
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]


def _waits(
    tmp_path: Path, probe: FakeProbe, condition: str, clock: list[float]
) -> tuple[Waits, object]:
    check = Healthcheck(("CMD", "true"), interval_s=1, timeout_s=1, retries=1)
    db = service("db", tmp_path, healthcheck=check)
    web = service("web", tmp_path, depends_on=(Dependency("db", condition),))  # type: ignore[arg-type]
    stop = threading.Event()
    waits = Waits(probe, stop, lambda: clock[0], {"db": db, "web": web})
    return waits, web


def test_service_healthy_waits_until_healthy(tmp_path: Path) -> None:
    """starting, starting, healthy: ready once healthy."""
    probe = FakeProbe([_info(health="starting"), _info(health="starting"), _info(health="healthy")])
    waits, web = _waits(tmp_path, probe, "service_healthy", [0.0])
    assert waits.ready(web)  # type: ignore[arg-type]
    assert probe.states == [_info(health="healthy")]


def test_service_healthy_fails_naming_both_when_unhealthy_or_exited(tmp_path: Path) -> None:
    """unhealthy, or exited: DependencyFailed names the service, the dependency and why."""
    waits, web = _waits(tmp_path, FakeProbe([_info(health="unhealthy")]), "service_healthy", [0])
    with pytest.raises(DependencyFailed, match=r"'web' not started: it depends on 'db'.*unhealthy"):
        waits.ready(web)  # type: ignore[arg-type]
    exited = FakeProbe([_info("exited", code=3)])
    waits, web = _waits(tmp_path, exited, "service_healthy", [0])
    with pytest.raises(DependencyFailed, match="exited with code 3"):
        waits.ready(web)  # type: ignore[arg-type]


def test_service_healthy_gives_up_after_the_healthchecks_budget(tmp_path: Path) -> None:
    """Still starting past start period + tries: DependencyFailed saying how long it waited."""
    clock = [0.0]
    probe = FakeProbe([_info(health="starting")])
    waits, web = _waits(tmp_path, probe, "service_healthy", clock)
    original = probe.inspect

    def ticking(container_id: str) -> ContainerInfo | None:
        clock[0] += 5
        return original(container_id)

    probe.inspect = ticking  # type: ignore[method-assign]
    with pytest.raises(DependencyFailed, match="not healthy after 9 s"):
        waits.ready(web)  # type: ignore[arg-type]


def test_completed_successfully_waits_for_exit_zero(tmp_path: Path) -> None:
    """running then exited 0: ready; exited 1: DependencyFailed."""
    ok = FakeProbe([_info(), _info("exited", code=0)])
    waits, web = _waits(tmp_path, ok, "service_completed_successfully", [0])
    assert waits.ready(web)  # type: ignore[arg-type]
    bad = FakeProbe([_info("exited", code=1)])
    waits, web = _waits(tmp_path, bad, "service_completed_successfully", [0])
    with pytest.raises(DependencyFailed, match="exited with code 1"):
        waits.ready(web)  # type: ignore[arg-type]


def test_a_dependency_that_failed_to_start_fails_its_dependent(tmp_path: Path) -> None:
    """service_started on a dependency whose build failed: DependencyFailed with the reason."""
    waits, web = _waits(
        tmp_path, FakeProbe([_info()], fail="its build failed"), "service_started", [0]
    )
    with pytest.raises(DependencyFailed, match="which failed to start: its build failed"):
        waits.ready(web)  # type: ignore[arg-type]


def test_stop_ends_a_wait(tmp_path: Path) -> None:
    """devd stopping while a dependency never starts: ready() returns False, no hang."""
    waits, web = _waits(tmp_path, FakeProbe([_info()], start_after=10**9), "service_started", [0])
    threading.Timer(0.3, waits.stop.set).start()
    assert waits.ready(web) is False  # type: ignore[arg-type]


def test_container_spec_carries_the_compose_settings_and_devds_labels_win(tmp_path: Path) -> None:
    """Every compose field reaches the spec; a service label cannot take devd's labels."""
    check = Healthcheck(("CMD", "true"))
    svc = service(
        "web",
        tmp_path,
        entrypoint=("sh", "-c"),
        working_dir="/w",
        user="1000",
        init=False,
        labels={"devd.project": "evil", "team": "a"},
        volumes=(Mount("volume", "p_data", "/data"),),
        healthcheck=check,
        ports=(PortMapping(0, 80),),
    )
    config = project(tmp_path, "p", svc)
    spec = container_spec(config, svc, name="p-web", image="img", environment={"A": "1"})
    assert (spec.entrypoint, spec.working_dir, spec.user, spec.init) == (
        ("sh", "-c"),
        "/w",
        "1000",
        False,
    )
    assert spec.labels == {"devd.project": "p", "devd.service": "web", "team": "a"}
    assert spec.network == "p_default"
    assert spec.healthcheck == check
    assert spec.mounts == svc.volumes
    assert spec.ports == svc.ports
    devd_toml = replace(config, compose_file=None, network=None)
    assert container_spec(devd_toml, svc, name="n", image="i", environment={}).init is True


def test_missing_image_of_an_image_only_service_names_both(tmp_path: Path) -> None:
    """An image-only service whose image is absent: one line with service, image, and that
    devd does not pull."""
    config = project(tmp_path, "p", service("db", tmp_path, build=False, image="pg:16"))
    with pytest.raises(ImageMissing) as raised:
        check_images(config, lambda ref: None)
    assert str(raised.value) == (
        "service 'db': image 'pg:16' not found locally and devd does not pull; "
        "build or pull it first"
    )
    check_images(config, lambda ref: "sha256:1")


def test_check_external_volumes_names_the_first_missing_one(tmp_path: Path) -> None:
    """Each external volume is looked up by its engine name; the first missing one is an
    ExternalVolumeMissing (exit 2) naming the compose key, the engine name, and how to create
    it; when all exist nothing is raised."""
    config = project(
        tmp_path,
        "p",
        service("db", tmp_path, build=False, image="pg:16"),
        external_volumes=(
            ExternalVolume("compose.yaml: volumes.here", "here"),
            ExternalVolume("compose.yaml: volumes.data", "shared-data"),
        ),
    )
    asked: list[str] = []

    def exists(name: str) -> bool:
        asked.append(name)
        return name == "here"

    with pytest.raises(ExternalVolumeMissing) as raised:
        check_external_volumes(config, exists)
    assert raised.value.exit_code == 2
    assert str(raised.value) == (
        "compose.yaml: volumes.data: external volume 'shared-data' not found; devd does not "
        "create external volumes: create it first (docker volume create shared-data)"
    )
    assert asked == ["here", "shared-data"]
    check_external_volumes(config, lambda name: True)


def test_with_services_only_their_external_volumes_are_looked_up(tmp_path: Path) -> None:
    """``devd rebuild app``: the external volumes app mounts are checked, one only an
    unrelated service mounts is not even looked up; volumes_mounted names the named volumes
    (not binds, tmpfs or anonymous volumes) of the services given."""
    config = project(
        tmp_path,
        "p",
        service(
            "app",
            tmp_path,
            volumes=(
                Mount("volume", "here", "/here"),
                Mount("volume", "p_own", "/own"),
                Mount("bind", str(tmp_path), "/src"),
                Mount("tmpfs", "", "/tmp"),
                Mount("volume", "", "/anon"),
            ),
        ),
        service(
            "other", tmp_path, build=False, image="x", volumes=(Mount("volume", "gone", "/g"),)
        ),
        external_volumes=(
            ExternalVolume("compose.yaml: volumes.here", "here"),
            ExternalVolume("compose.yaml: volumes.gone", "gone"),
        ),
    )
    assert volumes_mounted(config, ["app"]) == {"here", "p_own"}
    asked: list[str] = []

    def exists(name: str) -> bool:
        asked.append(name)
        return name == "here"

    check_external_volumes(config, exists, ["app"])
    assert asked == ["here"]
    with pytest.raises(ExternalVolumeMissing, match=r"volumes\.gone"):
        check_external_volumes(config, exists, ["app", "other"])


def test_one_shot_is_a_service_another_waits_to_complete(tmp_path: Path) -> None:
    """Only a service some other service waits on with ``service_completed_successfully`` is
    a one-shot job (its exit 0 is success); one merely started or healthy first is not."""
    services = {
        "migrate": service("migrate", tmp_path),
        "db": service("db", tmp_path),
        "app": service(
            "app",
            tmp_path,
            depends_on=(
                Dependency("migrate", "service_completed_successfully"),
                Dependency("db", "service_healthy"),
            ),
        ),
    }
    assert [name for name in services if one_shot(name, services)] == ["migrate"]
