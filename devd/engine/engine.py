"""The thin adapter over the Docker SDK (docker-py): :class:`Engine`, a connected engine made
of small clients that share one :class:`devd.engine.transport.Transport`: builds
(:mod:`devd.engine.build`), containers (:mod:`devd.engine.containers`) and their anchors
(:mod:`devd.engine.anchors`), files synced into them (:mod:`devd.engine.files`), commands run
in them (:mod:`devd.engine.exec`), their output (:mod:`devd.engine.logs`), the project's
images (:mod:`devd.engine.images`), networks and volumes (:mod:`devd.engine.resources`).
Each client owns its own state; none knows the others except :class:`Containers`, which is
handed the anchors its containers join.
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import Any

from devd.core import builders
from devd.core.build_result import BuildResult, StepResult
from devd.core.builders import Builder
from devd.engine.anchors import Anchors
from devd.engine.build import BUILD_IDLE_TIMEOUT, Builds
from devd.engine.container_spec import (
    LABEL_PROJECT,
    LABEL_SERVICE,
    ContainerInfo,
    ContainerSpec,
    owner_labels,
)
from devd.engine.containers import Containers
from devd.engine.exec import Execs
from devd.engine.files import Files
from devd.engine.images import Images
from devd.engine.logs import Logs
from devd.engine.resources import Resources
from devd.engine.transport import (
    DEFAULT_SOCKET,
    Transport,
    engine_address,
    open_client,
    unanswered_message,
    unavailable_message,
)

__all__ = [
    "BUILD_IDLE_TIMEOUT",
    "DEFAULT_SOCKET",
    "LABEL_PROJECT",
    "LABEL_SERVICE",
    "BuildResult",
    "ContainerInfo",
    "ContainerSpec",
    "Engine",
    "StepResult",
    "connect",
    "engine_address",
    "owner_labels",
    "unanswered_message",
    "unavailable_message",
]


def connect(*, build_idle_timeout: float | None = BUILD_IDLE_TIMEOUT) -> Engine:
    """Connect to the engine the environment names (DOCKER_HOST, else the default socket).

    ``build_idle_timeout``: see :class:`devd.engine.build.Builds`. Raises EngineUnavailable
    when no engine answers, within CONNECT_TIMEOUT when one accepts connections but never
    answers (frozen).
    """
    client, headers = open_client(os.environ)
    return Engine(
        client, build_idle_timeout=build_idle_timeout, recommends=builders.recommended(headers)
    )


class Engine:
    """A connected engine: its clients, each an attribute. ``client`` is the docker-py
    client, for what this adapter lacks (the tests' look at the engine)."""

    def __init__(
        self,
        client: Any,
        *,
        build_idle_timeout: float | None = BUILD_IDLE_TIMEOUT,
        recommends: Builder = "classic",
    ):
        self.transport = Transport(client)
        self.builds = Builds(
            self.transport, build_idle_timeout=build_idle_timeout, recommends=recommends
        )
        self.anchors = Anchors(self.transport)
        self.containers = Containers(self.transport, self.anchors)
        self.files = Files(self.transport)
        self.execs = Execs(self.transport)
        self.logs = Logs(self.transport)
        self.images = Images(self.transport)
        self.resources = Resources(self.transport)

    @property
    def client(self) -> Any:
        return self.transport.client

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
