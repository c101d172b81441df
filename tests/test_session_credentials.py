"""devd.engine.session.credentials: a registry host's credentials from the Docker config."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from devd.engine.session.credentials import docker_config_credentials


def _config(tmp_path: Path, auths: dict[str, dict[str, str]]) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"auths": auths}))
    return str(path)


def _auth(user: str, password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_auths_answer_by_host(tmp_path: Path) -> None:
    """An ``auths`` entry answers its host (user, password); Docker Hub's entry, kept under
    https://index.docker.io/v1/, answers BuildKit's registry-1.docker.io; other hosts get
    None (the engine then asks anonymously)."""
    lookup = docker_config_credentials(
        _config(
            tmp_path,
            {
                "127.0.0.1:5000": _auth("devd", "pw"),
                "https://index.docker.io/v1/": _auth("hubuser", "hubpw"),
            },
        )
    )
    assert lookup("127.0.0.1:5000") == ("devd", "pw")
    assert lookup("registry-1.docker.io") == ("hubuser", "hubpw")
    assert lookup("ghcr.io") is None


def test_an_identity_token_goes_as_the_secret(tmp_path: Path) -> None:
    """An identity token goes with an empty user name, as the docker CLI sends it."""
    lookup = docker_config_credentials(_config(tmp_path, {"reg.example": {"identitytoken": "tok"}}))
    assert lookup("reg.example") == ("", "tok")


def test_no_config_or_a_broken_one_is_no_credentials(tmp_path: Path) -> None:
    """A config that is missing or not JSON: no credentials, never an exception (the build
    then says what the registry said)."""
    assert docker_config_credentials(str(tmp_path / "missing.json"))("r") is None
    broken = tmp_path / "config.json"
    broken.write_text("{not json")
    assert docker_config_credentials(str(broken))("r") is None
