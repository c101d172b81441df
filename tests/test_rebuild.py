"""devd.rebuild: the line for a base image that could not be pulled."""

from __future__ import annotations

from devd.daemon.rebuild import pull_failure


def test_an_unreachable_registry_is_said_so_with_what_to_do() -> None:
    """No network to the registry (this machine): the image, the registry, the engine's
    reason, and how to get the image in anyway."""
    reason = 'Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: ' + (
        "no such host"
    )
    assert pull_failure("node:20", reason) == (
        "base image 'node:20' is not in the engine's image store and the registry docker.io "
        f"cannot be reached ({reason}); pull or load node:20 into the engine (docker pull / "
        "docker load) where it can"
    )


def test_refused_credentials_point_at_docker_login() -> None:
    line = pull_failure("127.0.0.1:5000/base:1", "unauthorized: authentication required")
    assert "the registry 127.0.0.1:5000 refused the credentials" in line
    assert line.endswith("docker login 127.0.0.1:5000 (devd reads your Docker config)")


def test_another_failure_keeps_the_engines_words() -> None:
    line = pull_failure("python:3.99", "manifest for python:3.99 not found: manifest unknown")
    assert "pulling it from docker.io failed (manifest for python:3.99 not found" in line
