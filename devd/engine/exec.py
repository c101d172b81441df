"""Running a Dockerfile step's command in a service's running container (``dependency_action
= "exec"``, :mod:`devd.installing`): the command with its output streamed line by line, the
base image's user and environment it starts from, and whether a path exists there.
:class:`ExecOps` is mixed into :class:`devd.engine.Engine`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import docker.errors

from devd.engine.containers import ContainerOps, short_id
from devd.errors import ContainerGone


@dataclass(frozen=True)
class ImageDefaults:
    """What a container of an image runs with unless told otherwise: its user ("" for
    root) and environment."""

    user: str
    env: Mapping[str, str]


class ExecOps(ContainerOps):
    """Running a step's command in a container; needs ``client``, as ContainerOps does."""

    def run_step(
        self,
        container_id: str,
        argv: Sequence[str],
        *,
        user: str,
        workdir: str,
        environment: Mapping[str, str],
        on_line: Callable[[str], None],
    ) -> int | None:
        """Run ``argv`` in the running container as ``user`` in ``workdir`` with
        ``environment`` over the container's own, handing each output line (stdout and
        stderr, as they come) to ``on_line``; its exit code. ContainerGone if it is gone."""
        what = f"running {argv[-1]!r} in container {short_id(container_id)}"
        with self._engine_call(what):
            if not self._owned(container_id, "run a command in"):
                raise ContainerGone(
                    f"cannot exec in container {short_id(container_id)}: it is gone"
                )
            try:
                exec_id = self.client.api.exec_create(
                    container_id,
                    list(argv),
                    user=user,
                    workdir=workdir,
                    environment=dict(environment),
                )["Id"]
            except docker.errors.NotFound as error:
                raise ContainerGone(
                    f"cannot exec in container {short_id(container_id)}: it is gone"
                ) from error
            pending = b""
            for chunk in self.client.api.exec_start(exec_id, stream=True):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    on_line(line.decode("utf-8", errors="replace").rstrip("\r"))
            if pending:
                on_line(pending.decode("utf-8", errors="replace"))
            code = self.client.api.exec_inspect(exec_id).get("ExitCode")
        return int(code) if code is not None else None

    def image_defaults(self, image: str) -> ImageDefaults | None:
        """``image``'s user and environment; None when the engine does not have it."""
        with self._engine_call(f"inspecting image {image}"):
            try:
                attrs = self.client.api.inspect_image(image)
            except docker.errors.ImageNotFound:
                return None
        config = attrs.get("Config") or {}
        env = dict(item.partition("=")[::2] for item in config.get("Env") or ())
        return ImageDefaults(str(config.get("User") or ""), env)

    def path_in(self, container_id: str, path: str) -> bool:
        """Whether ``path`` exists in the container (a symlink counts, not followed)."""
        with self._engine_call(f"looking into container {short_id(container_id)}"):
            return self.path_stat(container_id, path) is not None
