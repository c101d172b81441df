"""Build secrets and SSH agents through devd's session, on the real engine: a RUN step
mounts the secret (devd.toml from a file and from a variable; compose's build.secrets), and
its value is in no layer, history entry or saved image; an ssh-agent holding a key is
reachable from ``RUN --mount=type=ssh``."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devd.engine.engine import Engine
from devd.errors import BuildFailed
from tests.builds import build_like_devd
from tests.conftest import missing, remove_project
from tests.updriver import DEVD

pytestmark = pytest.mark.engine


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def md5(value: str) -> str:
    return hashlib.md5(value.encode()).hexdigest()


def run(client: Any, image: str, command: str) -> str:
    return bytes(client.containers.run(image, ["sh", "-c", command], remove=True)).decode()


def assert_nowhere_in(client: Any, image: str, secret: str) -> None:
    """``secret`` is in no history entry and no byte of ``docker save`` (layers included:
    they are uncompressed tars inside the saved one)."""
    history = client.api.history(image)
    assert secret not in repr(history)
    saved = b"".join(client.images.get(image).save(named=False))
    assert secret.encode() not in saved


# BuildKit's cache keys leave secrets out: the first step makes each test's build its own.
SECRET_DOCKERFILE = (
    "FROM {base}\n"
    "RUN echo {id} > /id\n"
    "RUN --mount=type=secret,id=pip_token md5sum /run/secrets/pip_token | cut -c1-32 > /file\n"
    "RUN --mount=type=secret,id=npm,target=/tmp/npm md5sum /tmp/npm | cut -c1-32 > /env\n"
)


def test_devd_toml_secrets_reach_the_run_step_and_no_layer(
    engine: Engine, docker_client: Any, busybox_image: str, tmp_path: Path, image_tag: str,
    test_labels: dict[str, str], test_id: str, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """``secrets = { pip_token = { file = ... }, npm = { env = ... } }``: each RUN step reads
    its secret (the image keeps only its md5), and neither value is in the image's history,
    its layers or ``docker save``'s output."""
    from_file, from_env = f"file-secret-{test_id}", f"env-secret-{test_id}"
    root = write(
        tmp_path / "proj",
        {
            "Dockerfile": SECRET_DOCKERFILE.format(base=busybox_image, id=test_id),
            "devd.toml": f'project = "t{test_id}"\n[services.app.secrets]\n'
            'pip_token = { file = "../pip-token.txt" }\nnpm = { env = "DEVD_TEST_NPM" }\n',
        },
    )
    (tmp_path / "pip-token.txt").write_text(from_file)
    monkeypatch.setenv("DEVD_TEST_NPM", from_env)
    result = build_like_devd(root, engine, image_tag, test_labels, builder="buildkit")
    assert run(docker_client, result.image_id, "cat /file /env").split() == [
        md5(from_file),
        md5(from_env),
    ]
    for secret in (from_file, from_env):
        assert_nowhere_in(docker_client, result.image_id, secret)


def test_a_secret_that_cannot_be_read_fails_before_the_build(
    engine: Engine, busybox_image: str, tmp_path: Path, image_tag: str,
    test_labels: dict[str, str], test_id: str, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A secret file that is missing, a variable that is not set: one line naming the secret
    and the key it was declared under, before anything is built."""
    root = write(
        tmp_path / "proj",
        {
            "Dockerfile": SECRET_DOCKERFILE.format(base=busybox_image, id=test_id),
            "devd.toml": f'project = "t{test_id}"\n[services.app.secrets]\n'
            'pip_token = { file = "nowhere.txt" }\n',
        },
    )
    with pytest.raises(BuildFailed) as caught:
        build_like_devd(root, engine, image_tag, test_labels, builder="buildkit")
    assert str(caught.value) == (
        "build failed: secret 'pip_token' (devd.toml: services.app.secrets.pip_token): "
        f"cannot read {root.resolve() / 'nowhere.txt'}: no such file or directory"
    )
    write(root, {"devd.toml": '[services.app.secrets]\nnpm = { env = "DEVD_TEST_UNSET" }\n'})
    monkeypatch.delenv("DEVD_TEST_UNSET", raising=False)
    with pytest.raises(BuildFailed, match=r"secret 'npm' \(devd.toml: services.app.secrets"):
        build_like_devd(root, engine, image_tag, test_labels, builder="buildkit")


def test_compose_build_secrets(
    docker_client: Any, busybox_image: str, tmp_path: Path, test_id: str
) -> None:
    """``devd build`` on a compose file whose service's ``build.secrets`` names a top-level
    file secret and an environment one (long syntax, its target the id): the steps read
    them, and neither is in the image."""
    from_file, from_env = f"compose-file-{test_id}", f"compose-env-{test_id}"
    name = f"t{test_id}"
    root = write(
        tmp_path / "proj",
        {
            "Dockerfile": SECRET_DOCKERFILE.format(base=busybox_image, id=test_id),
            "compose.yaml": f"name: {name}\nservices:\n  app:\n    build:\n      context: .\n"
            "      secrets: [pip_token, {source: npm_source, target: npm}]\n"
            "secrets:\n  pip_token:\n    file: ./token.txt\n"
            "  npm_source:\n    environment: DEVD_TEST_COMPOSE_NPM\n",
            "token.txt": from_file,
            ".dockerignore": "token.txt\n",
        },
    )
    try:
        done = subprocess.run(
            [*DEVD, "-C", str(root), "build"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "DEVD_TEST_COMPOSE_NPM": from_env},
        )
        assert done.returncode == 0, done.stderr
        image = docker_client.images.get(f"devd-{name}-app").id
        assert run(docker_client, image, "cat /file /env").split() == [
            md5(from_file),
            md5(from_env),
        ]
        for secret in (from_file, from_env):
            assert_nowhere_in(docker_client, image, secret)
    finally:
        remove_project(docker_client, name)


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A real ssh-agent holding a new ed25519 key: (its socket, the key's comment)."""
    if shutil.which("ssh-agent") is None or shutil.which("ssh-keygen") is None:
        missing("the SSH test needs openssh-client (ssh-agent, ssh-keygen, ssh-add)")
    sock = tmp_path / "agent.sock"
    process = subprocess.Popen(
        ["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            if sock.exists():
                break
            subprocess.run(["sleep", "0.05"], check=True)
        key = tmp_path / "id_test"
        comment = f"devd-test-key-{tmp_path.name}"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)],
            check=True,
        )
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", "-q", str(key)], check=True, env=env, capture_output=True)
        yield str(sock), comment
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)


# The agent protocol's request for the identities (SSH2_AGENTC_REQUEST_IDENTITIES, 11), and
# the answer's type (SSH2_AGENT_IDENTITIES_ANSWER, 12) and key count, read in Python.
LIST_KEYS = (
    "import os, socket, struct; s = socket.socket(socket.AF_UNIX); "
    "s.connect(os.environ['SSH_AUTH_SOCK']); s.sendall(struct.pack('>IB', 1, 11)); "
    "data = s.recv(65536); print(data[4], struct.unpack('>I', data[5:9])[0], "
    "data.decode('latin-1'))"
)


def test_ssh_default_forwards_the_agent(
    engine: Engine, docker_client: Any, tmp_path: Path, image_tag: str,
    test_labels: dict[str, str], test_id: str, agent: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """``ssh = ["default"]`` forwards SSH_AUTH_SOCK's agent: a RUN step with
    ``--mount=type=ssh`` asks it for its identities and gets the key devd's test added."""
    sock, comment = agent
    monkeypatch.setenv("SSH_AUTH_SOCK", sock)
    python = "devd-python:3.11"
    try:
        docker_client.images.get(python)
    except Exception:
        missing(f"the base image {python} is missing; run scripts/setup-engine --python")
    root = write(
        tmp_path / "proj",
        {
            "Dockerfile": f"FROM {python}\nRUN echo {test_id} > /id\n"
            f'RUN --mount=type=ssh python3 -c "{LIST_KEYS}" > /keys\n',
            "devd.toml": f'project = "t{test_id}"\n[services.app]\nssh = ["default"]\n',
        },
    )
    result = build_like_devd(root, engine, image_tag, test_labels, builder="buildkit")
    answer = run(docker_client, result.image_id, "cat /keys")
    kind, count = answer.split()[:2]
    assert (kind, count) == ("12", "1"), answer
    assert comment in answer
