"""Shared fixtures: the real Docker engine, its local base image, and per-test cleanup.

Tests that need the engine are marked ``@pytest.mark.engine`` and use the ``engine`` fixture.
When no engine answers they fail in CI (``CI=true``) and skip elsewhere, saying why and how
to start one. Everything a test builds carries the label ``devd.test=<id>`` (see
``test_labels``) and is removed, with the containers made from it, when the test ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import docker.errors
import pytest

from devd.engine import ssh
from devd.engine.engine import Engine, connect
from devd.errors import EngineUnavailable
from tests.privateengine import PrivateEngine
from tests.privatesshd import SSHD, PrivateSshd
from tests.registry import Registry
from tests.updriver import Sample, UpProcess, free_port

BUSYBOX_IMAGE = "devd-busybox:latest"
TEST_LABEL = "devd.test"
SETUP_HINT = "run scripts/setup-engine (as root) to build it"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that reaches the engine fixture ``engine``, so ``-m "not engine"`` works
    even for a test that forgot the marker."""
    for item in items:
        if "engine" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.engine)


def missing(what: str) -> NoReturn:
    """Fail in CI, where the engine is part of the contract; skip with the reason elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {what} (.ci/run must run scripts/setup-engine)", pytrace=False)
    pytest.skip(what)


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    """The real engine the environment names (DOCKER_HOST or the default socket)."""
    try:
        connected = connect()
    except EngineUnavailable as error:
        problem = str(error)  # reported outside the except block: no chained traceback
    else:
        with connected:
            yield connected
            _prune_build_cache(connected)
        return
    missing(problem)


def _prune_build_cache(engine: Engine) -> None:
    """BuildKit keeps each tar-body build's context (and its unpacked copy) in its build cache
    until its garbage collection runs (the 1 GiB context test alone leaves gigabytes): remove
    what no build has used for 10 minutes, which a test running meanwhile elsewhere never
    needs again."""
    with contextlib.suppress(docker.errors.APIError):
        engine.client.api.prune_builds(filters={"unused-for": ["10m"]})


@pytest.fixture(scope="session")
def docker_client(engine: Engine) -> Any:
    """The docker-py client behind ``engine``, for looking at what a test made."""
    return engine.client


@pytest.fixture(scope="session")
def busybox_image(docker_client: Any) -> str:
    """The local busybox base image's name (built by scripts/setup-engine; no registry here)."""
    try:
        docker_client.images.get(BUSYBOX_IMAGE)
    except docker.errors.ImageNotFound:
        pass
    else:
        return BUSYBOX_IMAGE
    missing(f"the base image {BUSYBOX_IMAGE} is missing; {SETUP_HINT}")


@pytest.fixture
def test_id() -> str:
    """A fresh id per test, for tags and labels."""
    return uuid.uuid4().hex[:12]


@pytest.fixture
def test_labels(test_id: str) -> dict[str, str]:
    """Labels to put on everything the test builds, so that cleanup finds it."""
    return {TEST_LABEL: test_id}


@pytest.fixture
def image_tag(docker_client: Any, test_id: str) -> Iterator[str]:
    """A tag no other test uses; afterwards removes the test's containers and images."""
    tag = f"devd-test-{test_id}:latest"
    yield tag
    _remove_test_objects(docker_client, test_id, tag)


def _remove_test_objects(client: Any, test_id: str, tag: str) -> None:
    selector = {"label": f"{TEST_LABEL}={test_id}"}
    for container in client.containers.list(all=True, filters=selector):
        _ignore_missing(lambda c=container: c.remove(force=True))
    remove_images(client, [image.id for image in client.images.list(all=True, filters=selector)])
    _ignore_missing(lambda: client.images.remove(tag, force=True))


def remove_images(client: Any, image_ids: list[str], rounds: int = 5) -> None:
    """Remove images whose children may be among them: creation times have one-second
    precision, so retry the refused ones ("has dependent child images") in later rounds."""
    pending = list(image_ids)
    for _ in range(rounds):
        refused = []
        for image_id in pending:
            try:
                client.images.remove(image_id, force=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError:
                refused.append(image_id)
        if not refused:
            return
        pending = refused


def _ignore_missing(remove: Any) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        remove()


def remove_project(client: Any, project: str) -> None:
    """Remove what a test's devd made for ``project``: its containers, its networks and
    volumes (a leftover network each run would use up the engine's address pools), then its
    images."""
    selector = {"label": f"devd.project={project}"}
    for container in client.containers.list(all=True, filters=selector):
        _ignore_missing(lambda c=container: c.remove(force=True))
    remove_anchors(client, project)
    for network in client.networks.list(filters=selector):
        _ignore_missing(network.remove)
    for volume in client.volumes.list(filters=selector):
        _ignore_missing(lambda v=volume: v.remove(force=True))
    remove_images(client, [image.id for image in project_images(client, project)])


def remove_anchors(client: Any, project: str) -> None:
    """Remove the anchors devd made for ``project``'s services."""
    anchors = {"label": f"devd.anchor.project={project}"}
    for container in client.containers.list(all=True, filters=anchors):
        _ignore_missing(lambda c=container: c.remove(force=True))


def project_images(client: Any, project: str) -> list[Any]:
    """The images devd built for ``project`` (labelled ``devd.image=<project>/<service>``).
    Only this project's are inspected: the engine is shared with other test runs, whose
    images can be removed between the listing and an inspect (ImageNotFound)."""
    found = client.api.images(all=True, filters={"label": "devd.image"})
    images = []
    for summary in found:
        if (summary.get("Labels") or {}).get("devd.image", "").split("/")[0] == project:
            with contextlib.suppress(docker.errors.NotFound):
                images.append(client.images.get(summary["Id"]))
    return images


def running_containers(client: Any, project: str) -> list[Any]:
    """The running containers labelled as ``project``'s."""
    return client.containers.list(filters={"label": f"devd.project={project}"})


@pytest.fixture
def sample(
    tmp_path: Path, test_id: str, docker_client: Any, busybox_image: str
) -> Iterator[Sample]:
    """The busybox sample project (tests/updriver.py), removed with all it made afterwards."""
    project = Sample(tmp_path / "proj", f"t{test_id}", free_port())
    yield project
    remove_project(docker_client, project.name)


@pytest.fixture
def up(sample: Sample) -> Iterator[UpProcess]:
    """``devd up`` running on ``sample``; killed afterwards if the test did not stop it."""
    process = UpProcess(sample.root)
    yield process
    process.kill()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    """A registry with basic auth on 127.0.0.1 (tests/registry.py), user ``devd``."""
    if shutil.which("docker-registry") is None or shutil.which("htpasswd") is None:
        missing("a registry needs docker-registry and htpasswd (scripts/setup-engine --registry)")
    directory = tmp_path / "registry"
    directory.mkdir()
    server = Registry(directory, "devd", "right-password")
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def private_engine(docker_client: Any, busybox_image: str, test_id: str) -> Iterator[PrivateEngine]:
    """A private dockerd (tests/privateengine.py) the test may stop, kill and restart, with
    the busybox base image loaded; removed with everything in it afterwards."""
    yield from _private_engine(docker_client, busybox_image, test_id, tcp=False)


@pytest.fixture
def tcp_engine(docker_client: Any, busybox_image: str, test_id: str) -> Iterator[PrivateEngine]:
    """A private dockerd as ``private_engine``, reached over TCP (``host`` is tcp://...) on
    an address of its own network namespace (tests/privateengine.py)."""
    if shutil.which("ip") is None or shutil.which("nsenter") is None:
        missing("a TCP private engine needs ip (iproute2) and nsenter (scripts/setup-engine)")
    yield from _private_engine(docker_client, busybox_image, test_id, tcp=True)


def _private_engine(
    docker_client: Any, busybox_image: str, test_id: str, tcp: bool, ports: bool = False
) -> Iterator[PrivateEngine]:
    if shutil.which("dockerd") is None or shutil.which("unshare") is None or os.geteuid() != 0:
        missing("a private engine needs root, dockerd and unshare (scripts/setup-engine)")
    engine = PrivateEngine(test_id, tcp=tcp, ports=ports)
    try:
        engine.start()
        engine.load_image(docker_client, busybox_image)
        yield engine
    finally:
        engine.close()


@pytest.fixture
def ssh_engine(
    docker_client: Any, busybox_image: str, test_id: str, tmp_path: Path
) -> Iterator[PrivateSshd]:
    """A private dockerd behind a real sshd (stock configuration, MaxSessions 10) in a network
    namespace of its own (tests/privatesshd.py); ``env`` is what points devd at it
    (``DOCKER_HOST=ssh://root@...`` and a ``HOME`` whose .ssh holds the key and host key)."""
    if shutil.which("sshd") is None and not Path(SSHD).exists():
        missing("an ssh engine needs sshd (scripts/setup-engine --sshd)")
    if shutil.which("ip") is None or shutil.which("nsenter") is None:
        missing("an ssh engine needs ip (iproute2) and nsenter (scripts/setup-engine)")
    for private in _private_engine(docker_client, busybox_image, test_id, tcp=True, ports=True):
        sshd = PrivateSshd(private, tmp_path / "home")
        try:
            sshd.start()
            yield sshd
        finally:
            sshd.close()


@pytest.fixture
def ssh_env(ssh_engine: PrivateSshd, monkeypatch: pytest.MonkeyPatch) -> PrivateSshd:
    """:func:`ssh_engine` with its ``env`` set in the test's environment (devd's DOCKER_HOST
    and HOME point at it)."""
    for key, value in ssh_engine.env.items():
        monkeypatch.setenv(key, value)
    return ssh_engine


@pytest.fixture
def linked(ssh_env: PrivateSshd) -> Iterator[tuple[Any, ssh.SshLink]]:
    """A docker-py client over devd's own ssh connection to :func:`ssh_env`, and the link."""
    client, link = ssh.docker_client(ssh_env.host, timeout=60)
    try:
        yield client, link
    finally:
        client.close()
