"""Exceptions devd raises on purpose; each carries a message fit to show the user as is."""

from __future__ import annotations

from collections.abc import Sequence


class DevdError(Exception):
    """Base class of every error devd reports to the user: the CLI prints the message on one
    line and exits with ``exit_code`` (1: something that ran failed; 2: bad input or setup)."""

    exit_code = 1


class ConfigError(DevdError):
    """The configuration (devd.toml, pyproject.toml, DEVD_* environment, flags) is invalid."""

    exit_code = 2


class DockerfileError(DevdError):
    """A Dockerfile that cannot be read or parsed, or that names something that does not exist."""

    exit_code = 2


class EngineUnavailable(DevdError):
    """No Docker engine answers where devd looked for one."""

    exit_code = 2


class BuildContextError(DevdError):
    """The build context could not be assembled (missing directory, unreadable file...)."""

    exit_code = 2


class EngineError(DevdError):
    """The engine refused or failed a request that has no more specific error below."""


class ForeignContainer(DevdError):
    """A container devd would have to touch was not made by devd for this project and service
    (no labels, or another project's); devd leaves it alone."""

    exit_code = 2


class ContainerStartFailed(DevdError):
    """A service's new container could not be created or started (port taken, bad command...)."""


class ForeignResource(DevdError):
    """A network or volume with the name devd would give it exists without this project's
    ``devd.project`` label; devd leaves it alone."""

    exit_code = 2


class ExternalVolumeMissing(DevdError):
    """A volume the compose file marks ``external`` does not exist, and devd does not create
    one: the user must."""

    exit_code = 2


class ImageMissing(DevdError):
    """An image-only service's image is not in the engine, and devd does not pull."""

    exit_code = 2


class DependencyFailed(DevdError):
    """A service could not start because a service it depends on did not become ready
    (unhealthy, exited, failed to build or start, or not ready in time)."""


class ContainerGone(DevdError):
    """The container an operation needs no longer exists."""


class SyncRefused(DevdError):
    """A file sync devd will not do: a container path that is not absolute or climbs with
    ``..``, or one under a directory that is a symlink in the container."""

    exit_code = 2


class UnsyncableFile(SyncRefused):
    """A host file a sync leaves out: unreadable, neither a regular file nor a symlink, or
    changed as it was read. The rest of its batch is synced; ``reason`` says why, in words
    that end the line naming the file."""

    def __init__(self, host: object, reason: str) -> None:
        super().__init__(f"cannot sync {host}: {reason}")
        self.host = str(host)
        self.reason = reason


class TraceError(DevdError):
    """A BuildKit progress message that devd cannot decode (a protocol devd does not know)."""


class BuildFailed(DevdError):
    """An image build did not produce an image.

    ``step`` is the failing instruction as the engine printed it (``"RUN make"``), or
    None when the build failed before its first step (parse error, bad option);
    ``step_number``/``step_total`` locate it ("4/7"); ``output`` holds the last lines
    the step printed; ``command_status`` is the failing command's exit status when the
    engine gave one (``exit_code`` stays the CLI's exit code); ``created_images`` the ids of
    the images the steps before the failure made (cached steps' images are not among them),
    first step first: nothing uses them but the build cache.
    """

    def __init__(
        self,
        message: str,
        *,
        step: str | None = None,
        step_number: int | None = None,
        step_total: int | None = None,
        output: Sequence[str] = (),
        command_status: int | None = None,
        created_images: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.step = step
        self.step_number = step_number
        self.step_total = step_total
        self.output = tuple(output)
        self.command_status = command_status
        self.created_images = tuple(created_images)


def one_line(text: str, limit: int = 200) -> str:
    """``text`` with its whitespace runs (newlines included) squeezed, cut to ``limit`` in
    the middle: the end of an engine's message is what a person needs most (``... did not
    complete successfully: exit code: 2``), the start says what it is about."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    tail = min(_KEPT_TAIL, limit // 2)
    return flat[: limit - tail - 5] + " ... " + flat[-tail:]


_KEPT_TAIL = 80
