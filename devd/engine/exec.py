"""Running commands in devd's containers (:class:`Execs`): a configured hook, run whole
(:meth:`Execs.run`), and a Dockerfile step's command (``dependency_action = "exec"``,
:mod:`devd.daemon.installing`) with its output streamed line by line, starting from the base
image's user and environment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import docker.errors

from devd.config import ExecHook
from devd.engine.transport import Transport, short_id
from devd.errors import ContainerGone


@dataclass(frozen=True)
class ImageDefaults:
    """What a container of an image runs with unless told otherwise: its user ("" for
    root) and environment."""

    user: str
    env: Mapping[str, str]


class Execs:
    """Running commands in devd's containers, through ``transport``."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def run(
        self, container_id: str, command: tuple[str, ...] | ExecHook
    ) -> tuple[int | None, list[str]]:
        """Run ``command`` in the running container (a bare command as the container's user,
        in its working directory; an :class:`ExecHook` as it says); its exit code and output
        lines. ContainerGone if the container is gone."""
        hook = command if isinstance(command, ExecHook) else ExecHook(command)
        what = f"running {list(hook.command)} in container {short_id(container_id)}"
        with self._transport.call(what):
            if not self._transport.owned(container_id, "run a command in"):
                raise ContainerGone(
                    f"cannot exec in container {short_id(container_id)}: it is gone"
                )
            exec_id = self._transport.api.exec_create(
                container_id,
                list(hook.command),
                user=hook.user or "",
                workdir=hook.working_dir,
                environment=dict(hook.environment) or None,
                privileged=hook.privileged,
            )["Id"]
            output = self._transport.api.exec_start(exec_id)
            code = self._transport.api.exec_inspect(exec_id).get("ExitCode")
        text = output.decode("utf-8", errors="replace") if output else ""
        return (int(code) if code is not None else None), text.splitlines()

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
        with self._transport.call(what):
            if not self._transport.owned(container_id, "run a command in"):
                raise ContainerGone(
                    f"cannot exec in container {short_id(container_id)}: it is gone"
                )
            try:
                exec_id = self._transport.api.exec_create(
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
            for chunk in self._transport.api.exec_start(exec_id, stream=True):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    on_line(line.decode("utf-8", errors="replace").rstrip("\r"))
            if pending:
                on_line(pending.decode("utf-8", errors="replace"))
            code = self._transport.api.exec_inspect(exec_id).get("ExitCode")
        return int(code) if code is not None else None

    def image_defaults(self, image: str) -> ImageDefaults | None:
        """``image``'s user and environment; None when the engine does not have it."""
        with self._transport.call(f"inspecting image {image}"):
            try:
                attrs = self._transport.api.inspect_image(image)
            except docker.errors.ImageNotFound:
                return None
        config = attrs.get("Config") or {}
        env = dict(item.partition("=")[::2] for item in config.get("Env") or ())
        return ImageDefaults(str(config.get("User") or ""), env)
