"""devd.engine.build_source: what a session offers for a service's build, and the checks
before it starts."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from devd.config import BuildSecret, SshAgent
from devd.engine.build_source import BuildSource
from devd.engine.session.filesync import SyncRequest, listing
from devd.errors import BuildFailed


def _source(root: Path, **extra: object) -> BuildSource:
    return BuildSource(root, root / "docker" / "Dockerfile", ("*.log",), "shop", "app", **extra)  # type: ignore[arg-type]


def test_the_offer_holds_the_context_and_the_dockerfile_alone(tmp_path: Path) -> None:
    """``context`` lists the context under devd's patterns; ``dockerfile`` is the
    Dockerfile's directory narrowed to the Dockerfile; the build names it by its base name;
    the shared key is stable for the project, service and context."""
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "Dockerfile").write_text("FROM x\n")
    (tmp_path / "docker" / "notes.txt").write_text("")
    (tmp_path / "a.log").write_text("")
    (tmp_path / "main.py").write_text("")
    source = _source(tmp_path)
    offer = source.offer({})
    context = [e.stat.path for e in listing(offer.dirs["context"], SyncRequest("context"))]
    dockerfile = [e.stat.path for e in listing(offer.dirs["dockerfile"], SyncRequest("d"))]
    assert context == ["docker", "docker/Dockerfile", "docker/notes.txt", "main.py"]
    assert dockerfile == ["Dockerfile"]
    assert source.dockerfile_name == "Dockerfile"
    assert source.key == _source(tmp_path).key
    assert source.key != BuildSource(tmp_path, tmp_path, (), "shop", "web").key


def test_secrets_are_read_when_asked(tmp_path: Path) -> None:
    """A file secret is read when the engine asks (a change since the offer counts); an
    environment secret is the variable's value."""
    token = tmp_path / "token"
    token.write_text("one")
    secrets = (
        BuildSecret("f", "devd.toml: services.app.secrets.f", file=token),
        BuildSecret("e", "devd.toml: services.app.secrets.e", env="TOKEN"),
    )
    offer = _source(tmp_path, secrets=secrets).offer({"TOKEN": "from-env"})
    token.write_text("two")
    assert offer.secrets["f"]() == b"two"
    assert offer.secrets["e"]() == b"from-env"


@pytest.mark.parametrize(
    ("agent", "environ", "expected"),
    [
        (
            SshAgent("default"),
            {},
            "build failed: ssh 'default': SSH_AUTH_SOCK is not set; start an agent "
            "(eval $(ssh-agent); ssh-add) before devd",
        ),
        (
            SshAgent("default"),
            {"SSH_AUTH_SOCK": "/nonexistent/agent"},
            "build failed: ssh 'default': the agent socket /nonexistent/agent: no such file or "
            "directory",
        ),
    ],
)
def test_an_agent_that_is_not_there_is_one_line(
    tmp_path: Path, agent: SshAgent, environ: dict[str, str], expected: str
) -> None:
    """No SSH_AUTH_SOCK, or a socket that is not there: one line before the build."""
    with pytest.raises(BuildFailed) as caught:
        _source(tmp_path, ssh=(agent,)).check(environ)
    assert str(caught.value) == expected


def test_a_key_file_is_no_agent(tmp_path: Path) -> None:
    """``ID=PATH`` must name an agent's socket: a key file is refused, a socket accepted."""
    key = tmp_path / "id_ed25519"
    key.write_text("key")
    with pytest.raises(BuildFailed, match="is not an agent socket"):
        _source(tmp_path, ssh=(SshAgent("deploy", key),)).check({})
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "agent.sock"))
        _source(tmp_path, ssh=(SshAgent("deploy", tmp_path / "agent.sock"),)).check({})
