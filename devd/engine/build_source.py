"""What a service's build is made from, before anything is sent: the context directory, the
Dockerfile, devd's ignore patterns, and what the build may ask devd for during a BuildKit
session (secrets, SSH agents, registry credentials).

The engine adapter turns it into a session's offer (:meth:`BuildSource.offer`) when BuildKit
builds through a session, or into the tar of :mod:`devd.engine.context`
(:meth:`BuildSource.archive`) for the classic builder and when no session can be opened.

Secrets and agents are checked before the build starts (:meth:`BuildSource.check`): a file
that cannot be read, a variable that is not set, an agent socket that is not there is one
line naming the key it was declared under, instead of a ``secret not found`` from the middle
of the build. A secret's bytes are read when the engine asks, never kept.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from devd.config import BuildSecret, SshAgent
from devd.core.ignore import IgnoreRules
from devd.engine.context import ContextArchive, build_context
from devd.engine.session.credentials import docker_config_credentials
from devd.engine.session.filesync import SyncedDir
from devd.engine.session.services import Attachments, SecretReader, SyncReport
from devd.engine.session.session import shared_key
from devd.errors import BuildFailed

CONTEXT = "context"
DOCKERFILE = "dockerfile"
"""The names BuildKit's Dockerfile frontend gives its two local sources."""


@dataclass(frozen=True)
class BuildSource:
    """One service's build input. ``excludes`` are devd's ignore patterns for the context."""

    context_dir: Path
    dockerfile: Path
    excludes: tuple[str, ...]
    project: str
    service: str
    secrets: tuple[BuildSecret, ...] = ()
    ssh: tuple[SshAgent, ...] = ()

    @property
    def key(self) -> str:
        """The session's shared key: the same for every build of this project, service and
        context, so the engine keeps its copy of the context between them."""
        return shared_key(self.project, self.service, str(self.context_dir.resolve()))

    @property
    def dockerfile_name(self) -> str:
        """The Dockerfile's name within its own source (its directory)."""
        return self.dockerfile.name

    def archive(self, *, ignore_file: bool) -> ContextArchive:
        """The tar context (see :func:`devd.engine.context.build_context`)."""
        return build_context(
            self.context_dir, self.dockerfile, self.excludes, ignore_file=ignore_file
        )

    def check(self, environ: Mapping[str, str]) -> None:
        """Raise BuildFailed, one line naming the declaration, for a secret or SSH agent the
        build could not be given."""
        for secret in self.secrets:
            problem = _secret_problem(secret, environ)
            if problem:
                where = f"secret {secret.id!r} ({secret.source})"
                raise BuildFailed(f"build failed: {where}: {problem}")
        for agent in self.ssh:
            problem = _agent_problem(agent, environ)
            if problem:
                raise BuildFailed(f"build failed: ssh {agent.id!r}: {problem}")

    def offer(
        self,
        environ: Mapping[str, str],
        on_sync: Callable[[SyncReport], None] | None = None,
    ) -> Attachments:
        """What a session for this build serves: the context under devd's rules, the
        Dockerfile alone, the user's registry credentials, the secrets, the SSH agents."""
        root = self.context_dir.resolve()
        dockerfile = self.dockerfile.resolve()
        return Attachments(
            dirs={
                CONTEXT: SyncedDir(root, IgnoreRules(self.excludes)),
                DOCKERFILE: SyncedDir(dockerfile.parent, only=frozenset({dockerfile.name})),
            },
            credentials=docker_config_credentials(),
            secrets={secret.id: _reader(secret, environ) for secret in self.secrets},
            ssh={agent.id: str(_socket(agent, environ)) for agent in self.ssh},
            on_sync=on_sync,
        )


def _secret_problem(secret: BuildSecret, environ: Mapping[str, str]) -> str | None:
    if secret.env is not None:
        return None if secret.env in environ else f"the variable {secret.env} is not set"
    assert secret.file is not None
    try:
        with open(secret.file, "rb"):
            return None
    except OSError as error:
        return f"cannot read {secret.file}: {(error.strerror or str(error)).lower()}"


def _reader(secret: BuildSecret, environ: Mapping[str, str]) -> SecretReader:
    if secret.env is not None:
        value = environ.get(secret.env, "").encode()
        return lambda: value
    path = secret.file
    assert path is not None
    return path.read_bytes


def _socket(agent: SshAgent, environ: Mapping[str, str]) -> Path:
    if agent.socket is not None:
        return agent.socket
    return Path(environ.get("SSH_AUTH_SOCK", ""))


def _agent_problem(agent: SshAgent, environ: Mapping[str, str]) -> str | None:
    if agent.socket is None and not environ.get("SSH_AUTH_SOCK"):
        return "SSH_AUTH_SOCK is not set; start an agent (eval $(ssh-agent); ssh-add) before devd"
    path = _socket(agent, environ)
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        return f"the agent socket {path}: {(error.strerror or str(error)).lower()}"
    if not stat.S_ISSOCK(mode):
        return f"{path} is not an agent socket (devd forwards running ssh-agents, not key files)"
    return None
