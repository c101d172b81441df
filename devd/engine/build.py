"""Building images: with the builder a service's ``builder`` means on this engine
(:mod:`devd.core.builders`), through docker-py's low-level streaming API. The classic
builder's stream is read by :mod:`devd.core.classic_stream`, BuildKit's by
:mod:`devd.core.buildkit_stream`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

import docker.errors
import requests.exceptions
import urllib3.exceptions

from devd.core import builders
from devd.core.build_result import BuildResult, LineCallback
from devd.core.builders import Builder, BuilderChoice
from devd.core.buildkit_stream import BuildKitStreamParser
from devd.core.classic_stream import BuildStreamParser
from devd.core.dockerfile import StepLines
from devd.engine.context import ContextArchive
from devd.engine.transport import Transport

BUILD_IDLE_TIMEOUT = 600.0
"""Seconds a build may go without the engine sending anything before devd gives up on it."""

# What a connection to the engine can raise while a build streams: the engine refusing the
# request (APIError, a DockerException), the socket closing or timing out (requests and
# urllib3 errors, OSError), a truncated last JSON object (ValueError).
_TRANSPORT_ERRORS = (
    docker.errors.DockerException,
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    OSError,
    ValueError,
)


class Builds:
    """Builds through ``transport``. ``build_idle_timeout`` (seconds, None: wait forever)
    bounds how long a build may go without any output from the engine: a stuck engine then
    fails the build instead of hanging it (a step that runs silently for longer fails too).
    ``recommends`` is the builder the engine recommends (its ``/_ping``): what
    ``builder = "auto"`` is."""

    def __init__(
        self,
        transport: Transport,
        *,
        build_idle_timeout: float | None = BUILD_IDLE_TIMEOUT,
        recommends: Builder = "classic",
    ) -> None:
        self._transport = transport
        self.build_idle_timeout = build_idle_timeout
        self.recommends = recommends

    def builder(self, choice: BuilderChoice) -> Builder:
        """The builder ``choice`` (a service's ``builder``) means on this engine."""
        return builders.resolve(choice, self.recommends)

    def build(
        self,
        context: ContextArchive,
        *,
        tag: str,
        labels: Mapping[str, str],
        build_args: Mapping[str, str],
        target: str | None,
        no_cache: bool,
        builder: Builder = "classic",
        network: str | None = None,
        lines: StepLines | None = None,
        on_line: LineCallback | None = None,
        on_labels: Callable[[], None] | None = None,
    ) -> BuildResult:
        """Build ``context`` into an image tagged ``tag`` with ``builder``; raises BuildFailed
        on any failure. ``lines`` names each step's Dockerfile line in the result.

        ``on_line`` is called with each output line as it arrives. ``on_labels`` is called
        once, when every step of the Dockerfile has succeeded, at least one was rebuilt (the
        image will be a new one) and what is left only writes the image: the classic
        builder's build-label steps (about 70 ms a label), BuildKit's export. A caller can
        start retiring the old container meanwhile. Both are called from the thread reading
        the build's output and must return at once. ``network`` is the network mode of the
        build's RUN steps (``host``, ``none``...; None: the builder's default).
        """
        if builder == "buildkit":
            return self._build_with_buildkit(
                context,
                BuildKitStreamParser(lines, on_line=on_line, on_labels=on_labels),
                _buildkit_params(
                    tag, labels, build_args, target, no_cache, network, context.dockerfile
                ),
            )
        parser = BuildStreamParser(
            label_count=len(labels), lines=lines, on_line=on_line, on_labels=on_labels
        )
        context.fileobj.seek(0)
        try:
            chunks = self._transport.api.build(
                fileobj=context.fileobj,
                custom_context=True,
                dockerfile=context.dockerfile,
                tag=tag,
                labels=dict(labels),
                buildargs=dict(build_args),
                target=target,
                nocache=no_cache,
                network_mode=network,
                decode=True,
                rm=True,
                forcerm=True,
                timeout=self.build_idle_timeout,
            )
            parser.feed_all(chunks)
        except _TRANSPORT_ERRORS as error:
            refused = isinstance(error, docker.errors.APIError)
            raise parser.interrupted(
                error, None if refused else self._transport.unreachable()
            ) from error
        return parser.finish()

    def _build_with_buildkit(
        self, context: ContextArchive, parser: BuildKitStreamParser, params: dict[str, str]
    ) -> BuildResult:
        """``POST /build?version=2`` with the context as the tar body (no session: nothing
        the build needs is asked of devd, and the engine applies no ignore file to a tar
        body, so devd's own context, already filtered, is what the build sees)."""
        api = self._transport.api
        context.fileobj.seek(0)
        try:  # docker-py's build() has no "version": its request, with the parameter added
            response = api._post(
                api._url("/build"),
                params=params,
                data=context.fileobj,
                headers={"Content-Type": "application/x-tar"},
                stream=True,
                timeout=self.build_idle_timeout,
            )
            api._raise_for_status(response)
            parser.feed_all(api._stream_helper(response, decode=True))
        except _TRANSPORT_ERRORS as error:
            refused = isinstance(error, docker.errors.APIError)
            raise parser.interrupted(
                error, None if refused else self._transport.unreachable()
            ) from error
        return parser.finish()


def _buildkit_params(
    tag: str,
    labels: Mapping[str, str],
    build_args: Mapping[str, str],
    target: str | None,
    no_cache: bool,
    network: str | None,
    dockerfile: str,
) -> dict[str, str]:
    """The query of a BuildKit build, as the docker CLI sends it."""
    params = {
        "version": "2",
        "t": tag,
        "dockerfile": dockerfile,
        "labels": json.dumps(dict(labels)),
        "buildargs": json.dumps(dict(build_args)),
        "rm": "1",
        "forcerm": "1",
    }
    if target:
        params["target"] = target
    if no_cache:
        params["nocache"] = "1"
    if network:
        params["networkmode"] = network
    return params
