"""Registry credentials for the session's Auth service, from the user's Docker config.

BuildKit asks for the credentials of a registry host when a base image (or a ``# syntax=``
frontend) needs them, through ``moby.filesync.v1.Auth/Credentials``. devd answers from the
Docker config the docker CLI uses (``$DOCKER_CONFIG/config.json``, else
``~/.docker/config.json``): ``auths``, and ``credsStore``/``credHelpers`` through their
``docker-credential-*`` helpers — docker-py's auth module reads all three. The config is read
at each request, so a ``docker login`` during ``devd up`` counts from the next build.

Docker Hub is asked for as ``registry-1.docker.io``, and kept in the config under
``https://index.docker.io/v1/``: docker-py's ``docker.io`` finds it. An identity token (an
OAuth refresh token) goes as the secret with an empty user name, as the docker CLI sends it.
"""

from __future__ import annotations

import docker.auth
import docker.errors

from devd.engine.session.services import CredentialLookup

_HUB_HOSTS = frozenset({"registry-1.docker.io", "index.docker.io", "docker.io"})


def docker_config_credentials(config_path: str | None = None) -> CredentialLookup:
    """A lookup of the credentials the Docker config (``config_path``, else where docker
    looks) holds for a registry host; None for a host it has none for."""

    def lookup(host: str) -> tuple[str, str] | None:
        registry = docker.auth.INDEX_NAME if host in _HUB_HOSTS else host
        try:
            entry = docker.auth.load_config(config_path).resolve_authconfig(registry)
        except (docker.errors.DockerException, OSError, ValueError):
            return None  # an unreadable config or a failing helper: ask anonymously
        if not entry:
            return None
        token = entry.get("IdentityToken")
        if token:
            return "", str(token)
        user = entry.get("Username") or entry.get("username") or ""
        password = entry.get("Password") or entry.get("password") or ""
        return (str(user), str(password)) if user or password else None

    return lookup
