"""BuildKit builds through devd's session on the real engine (devd.engine.build with a
BuildSource): a rebuild sends only the saved file, the Dockerfile goes by its own source, no
session means the tar with one warning, a session that breaks fails its build in one line
while the next build opens a new one, and a private registry's base resolves with the
credentials of the user's Docker config."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from devd.engine.build_source import BuildSource
from devd.engine.engine import BuildResult, Engine
from devd.errors import BuildFailed
from tests.registry import Registry

pytestmark = pytest.mark.engine


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def source(root: Path, project: str, excludes: tuple[str, ...] = ()) -> BuildSource:
    return BuildSource(root, root / "Dockerfile", excludes, project, "app")


def build(engine: Engine, what: BuildSource, tag: str, labels: dict[str, str]) -> BuildResult:
    return engine.builds.build(
        what,
        tag=tag,
        labels=labels,
        build_args={},
        target=None,
        no_cache=False,
        builder="buildkit",
    )


def run(client: Any, image: str, command: str) -> str:
    return bytes(client.containers.run(image, ["sh", "-c", command], remove=True)).decode()


def test_a_rebuild_sends_the_saved_file_alone(
    engine: Engine, docker_client: Any, busybox_image: str, tmp_path: Path, image_tag: str,
    test_labels: dict[str, str], test_id: str,
) -> None:  # fmt: skip
    """The first build sends the context (4 MiB of assets); after one save the next build of
    the same project and service sends that file's bytes and nothing else (at most the
    saved file plus the Dockerfile), a few KiB on the wire in all, and the image has the
    new text. The Dockerfile, excluded by .dockerignore, is not in ``COPY . .``'s copy: it
    goes by its own source (a tar body would carry it in the context)."""
    root = write(
        tmp_path / "proj",
        {
            "Dockerfile": f"FROM {busybox_image}\nCOPY . /src\n",
            ".dockerignore": "Dockerfile\nnode_modules\n",
            "app/main.py": "print('v1')\n",
            "assets/a.bin": bytes(range(256)) * 8192,
            "assets/b.bin": bytes(range(255, -1, -1)) * 8192,
            "node_modules/x.js": "excluded\n",
        },
    )
    what = source(root, f"t{test_id}", ("Dockerfile", "node_modules"))
    first = build(engine, what, image_tag, test_labels)
    assert first.file_bytes is not None
    assert first.file_bytes > 4 * 2**20
    (root / "app/main.py").write_text("print('version 2 of the app')\n")
    second = build(engine, what, image_tag, test_labels)
    saved = (root / "app/main.py").stat().st_size
    assert second.file_bytes == saved
    assert second.file_bytes <= saved + (root / "Dockerfile").stat().st_size
    assert second.session_bytes is not None
    assert second.session_bytes < 8192
    listed = run(docker_client, second.image_id, "cat /src/app/main.py; ls -a /src")
    assert "version 2 of the app" in listed
    assert "Dockerfile" not in listed.split()
    assert "node_modules" not in listed.split()


def test_no_session_means_the_tar_with_one_warning(
    engine: Engine, busybox_image: str, tmp_path: Path, image_tag: str,
    test_labels: dict[str, str], test_id: str, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """An engine devd cannot open a connection of its own to (ssh://, TLS) gets the tar body:
    the build works, says so once in one warning, and reports no session bytes."""

    def no_connection(timeout: float = 0) -> socket.socket:
        raise OSError("devd opens no connection of its own to https://engine:2376 (TLS or ssh)")

    monkeypatch.setattr(engine.transport, "new_connection", no_connection)
    root = write(tmp_path / "proj", {"Dockerfile": f"FROM {busybox_image}\nCOPY . /src\n"})
    with capture_logs() as logs:
        results = [build(engine, source(root, f"t{test_id}"), image_tag, test_labels)]
        results.append(build(engine, source(root, f"t{test_id}"), image_tag, test_labels))
    warnings = [log["event"] for log in logs if log["log_level"] == "warning"]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("no BuildKit session (cannot connect to the engine: devd opens")
    assert "\n" not in warnings[0]
    assert [r.session_bytes for r in results] == [None, None]


class _Cutting:
    """A connection that breaks once ``after`` bytes went out on it: a drop at a fixed point
    of the context's transfer, whatever the machine's speed (a timer raced a fast transfer)."""

    def __init__(self, sock: socket.socket, after: int) -> None:
        self._sock = sock
        self._left = after

    def sendall(self, data: bytes) -> None:
        if self._left <= 0:
            self._sock.shutdown(socket.SHUT_RDWR)
            raise BrokenPipeError("the test cut the session's connection")
        self._left -= len(data)
        self._sock.sendall(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _Dropping:
    """Hands out the engine's connections; the first (the first session's) breaks after
    ``after`` bytes sent."""

    def __init__(self, connect: Any, after: int) -> None:
        self._connect = connect
        self._after = after
        self.sockets: list[Any] = []

    def __call__(self, timeout: float = 10.0) -> Any:
        conn: Any = self._connect(timeout)
        if not self.sockets:
            conn = _Cutting(conn, self._after)
        self.sockets.append(conn)
        return conn


def test_a_session_dropped_mid_build_fails_that_build_in_one_line(
    engine: Engine, busybox_image: str, tmp_path: Path, image_tag: str,
    test_labels: dict[str, str], test_id: str, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The session's connection breaks while the engine is fetching a 64 MiB context: that
    build fails with one line saying the session closed; the next build opens a new session
    and succeeds."""
    root = write(
        tmp_path / "proj",
        {
            "Dockerfile": f"FROM {busybox_image}\nRUN sleep 2\nCOPY . /src\n",
            "big.bin": b"\xa5" * (64 * 2**20),
        },
    )
    dropping = _Dropping(engine.transport.new_connection, after=8 * 2**20)
    monkeypatch.setattr(engine.transport, "new_connection", dropping)
    with pytest.raises(BuildFailed) as caught:
        build(engine, source(root, f"t{test_id}"), image_tag, test_labels)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(
        "build failed: the session devd serves the build context on closed mid-build ("
    ), message
    assert message.endswith("); the next build opens a new one")
    again = build(engine, source(root, f"t{test_id}"), image_tag, test_labels)
    assert again.image_id
    assert len(dropping.sockets) == 2


def test_a_private_base_resolves_through_the_sessions_credentials(
    engine: Engine, docker_client: Any, tmp_path: Path, registry: Registry, busybox_image: str,
    test_id: str, image_tag: str, test_labels: dict[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A base image pushed to a registry with basic auth and not in the engine's store: with
    no pull beforehand, BuildKit asks the session for the registry's credentials (Auth/
    Credentials; FetchToken answers UNIMPLEMENTED) and devd answers from DOCKER_CONFIG. A
    wrong password is one line naming the registry and what to do."""
    base = f"{registry.address}/devd-base-{test_id}"
    docker_client.images.get(busybox_image).tag(base, "1")
    auth = {"username": registry.user, "password": registry.password}
    pushed = docker_client.images.push(base, "1", auth_config=auth, stream=True, decode=True)
    assert not [chunk for chunk in pushed if "error" in chunk]
    docker_client.images.remove(f"{base}:1")
    root = write(
        tmp_path / "proj",
        {"Dockerfile": f"FROM {base}:1\nRUN echo built-on-{test_id} > /built\n"},
    )
    what = source(root, f"t{test_id}")
    monkeypatch.setenv("DOCKER_CONFIG", str(registry.docker_config(tmp_path / "w", "wrong")))
    with pytest.raises(BuildFailed) as caught:
        build(engine, what, image_tag, test_labels)
    assert str(caught.value) == (
        f"build failed: the registry {registry.address} refused the credentials from your "
        f"Docker config (401 Unauthorized); docker login {registry.address} (devd reads your "
        "Docker config at each build)"
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(registry.docker_config(tmp_path / "right")))
    result = build(engine, what, image_tag, test_labels)
    assert run(docker_client, result.image_id, "cat /built") == f"built-on-{test_id}\n"
