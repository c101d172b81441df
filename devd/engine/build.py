"""Building images: with the builder a service's ``builder`` means on this engine
(:mod:`devd.core.builders`), through docker-py's low-level streaming API. The classic
builder's stream is read by :mod:`devd.core.classic_stream`, BuildKit's by
:mod:`devd.core.buildkit_stream`.

BuildKit builds a :class:`~devd.engine.build_source.BuildSource` through a session
(:mod:`devd.engine.session`): the engine fetches the context, the Dockerfile, registry
credentials, secrets and SSH agents from devd while it builds, and keeps its copy of the
context under the service's shared key, so a rebuild moves only what changed. When no session
can be opened (an ssh:// or TLS engine, an engine that refuses the upgrade) the context goes
as a tar body, with one warning per reason; an engine that does not answer at all fails the
build as any request to it would. The session is opened per build and closed after
it: a session that broke cannot hold up the next build.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Callable, Iterator, Mapping

import docker.errors
import requests.exceptions
import structlog
import urllib3.exceptions

from devd.core import builders
from devd.core.build_result import BuildResult, LineCallback
from devd.core.builders import Builder, BuilderChoice
from devd.core.buildkit_stream import BuildKitStreamParser
from devd.core.classic_stream import BuildStreamParser
from devd.core.dockerfile import StepLines
from devd.engine.build_source import BuildSource
from devd.engine.context import ContextArchive
from devd.engine.session.session import Session, SessionUnavailable, open_session
from devd.engine.transport import Transport
from devd.errors import BuildContextError, BuildFailed, one_line

BUILD_IDLE_TIMEOUT = 600.0
"""Seconds a build may go without the engine sending anything before devd gives up on it."""

# What a connection to the engine can raise while a build streams: the engine refusing the
# request (APIError, a DockerException), the socket closing or timing out (requests and
# urllib3 errors, OSError), a truncated last JSON object (ValueError).
_log = structlog.get_logger("devd")
_WARNED_NO_SESSION: set[str] = set()

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
        context: ContextArchive | BuildSource,
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
        on any failure (BuildContextError: a file of the context devd cannot read).
        ``lines`` names each step's Dockerfile line in the result. A BuildSource goes
        through a BuildKit session (or becomes a tar: the classic builder, no session); a
        ContextArchive is sent as it is.

        ``on_line`` is called with each output line as it arrives. ``on_labels`` is called
        once, when every step of the Dockerfile has succeeded, at least one was rebuilt (the
        image will be a new one) and what is left only writes the image: the classic
        builder's build-label steps (about 70 ms a label), BuildKit's export. A caller can
        start stopping the old container meanwhile. Both are called from the thread reading
        the build's output and must return at once. ``network`` is the network mode of the
        build's RUN steps (``host``, ``none``...; None: the builder's default).
        """
        if builder == "buildkit":
            parser = BuildKitStreamParser(lines, on_line=on_line, on_labels=on_labels)
            params = _buildkit_params(tag, labels, build_args, target, no_cache, network)
            if isinstance(context, BuildSource):
                return self._build_from_source(context, parser, params)
            return self._build_with_buildkit(context, parser, params)
        if isinstance(context, BuildSource):
            with context.archive(ignore_file=True) as archive:
                return self._build_classic(archive, tag, labels, build_args, target, no_cache,
                                           network, lines, on_line, on_labels)  # fmt: skip
        return self._build_classic(context, tag, labels, build_args, target, no_cache, network,
                                   lines, on_line, on_labels)  # fmt: skip

    def _build_classic(
        self,
        context: ContextArchive,
        tag: str,
        labels: Mapping[str, str],
        build_args: Mapping[str, str],
        target: str | None,
        no_cache: bool,
        network: str | None,
        lines: StepLines | None,
        on_line: LineCallback | None,
        on_labels: Callable[[], None] | None,
    ) -> BuildResult:
        parser = BuildStreamParser(
            label_count=len(labels), lines=lines, on_line=on_line, on_labels=on_labels
        )
        context.fileobj.seek(0)
        with self._feeding(parser):
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
        return parser.finish()

    @contextlib.contextmanager
    def _feeding(self, parser: BuildStreamParser | BuildKitStreamParser) -> Iterator[None]:
        """Around a build's request and the reading of its stream: a connection that broke
        (or a request refused) mid-build is ``parser``'s BuildFailed, saying why the engine
        no longer answers if it does not."""
        try:
            yield
        except _TRANSPORT_ERRORS as error:
            refused = isinstance(error, docker.errors.APIError)
            gone = None if refused else self._transport.unreachable()
            raise parser.interrupted(error, gone) from error

    def _build_from_source(
        self, source: BuildSource, parser: BuildKitStreamParser, params: dict[str, str]
    ) -> BuildResult:
        """Through a session when one opens; else the tar body, with one warning."""
        source.check(os.environ)
        try:
            session = open_session(
                self._transport.new_connection,
                str(self._transport.api.api_version),
                name=f"{source.project}-{source.service}",
                key=source.key,
                offer=source.offer(os.environ),
            )
        except SessionUnavailable as error:
            gone = self._transport.unreachable() if error.connection_failed else None
            if gone is not None:  # an outage or a frozen engine: as any build start says it
                raise parser.interrupted(error, gone) from error
            _warn_no_session(str(error))
            with source.archive(ignore_file=False) as archive:
                return self._build_with_buildkit(archive, parser, params)
        with session:
            return self._build_in_session(session, source, parser, params)

    def _build_in_session(
        self,
        session: Session,
        source: BuildSource,
        parser: BuildKitStreamParser,
        params: dict[str, str],
    ) -> BuildResult:
        """``POST /build?version=2&session=...&remote=client-session``: no body, the engine
        fetches what it needs through ``session``. A session whose connection broke fails
        the build in one line saying so."""
        query = {
            **params,
            "session": session.id,
            "remote": "client-session",
            "dockerfile": source.dockerfile_name,
        }
        api = self._transport.api
        with self._feeding(parser):
            response = api._post(
                api._url("/build"), params=query, stream=True, timeout=self.build_idle_timeout
            )
            api._raise_for_status(response)
            parser.feed_all(api._stream_helper(response, decode=True))
        try:
            result = parser.finish()
        except BuildFailed as failed:
            if session.sync_errors:  # devd could not send the context: say it as the tar would
                raise BuildContextError(session.sync_errors[0]) from failed
            refusal = builders.registry_refusal(str(failed)) if failed.step is None else None
            if session.alive and refusal is not None:
                raise BuildFailed(
                    f"build failed: {refusal}", created_images=failed.created_images
                ) from failed
            if session.alive:
                raise
            raise BuildFailed(
                "build failed: the session devd serves the build context on closed mid-build "
                f"({one_line(str(failed).removeprefix('build failed: '))}); the next build "
                "opens a new one",
                created_images=failed.created_images,
            ) from failed
        return dataclasses.replace(
            result, session_bytes=session.bytes_written, file_bytes=session.file_bytes
        )

    def _build_with_buildkit(
        self, context: ContextArchive, parser: BuildKitStreamParser, params: dict[str, str]
    ) -> BuildResult:
        """``POST /build?version=2`` with the context as the tar body (no session: nothing
        the build needs is asked of devd, and the engine applies no ignore file to a tar
        body, so devd's own context, already filtered, is what the build sees)."""
        api = self._transport.api
        params = {**params, "dockerfile": context.dockerfile}
        context.fileobj.seek(0)
        # docker-py's build() has no "version": its request, with the parameter added
        with self._feeding(parser):
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
        return parser.finish()


def _buildkit_params(
    tag: str,
    labels: Mapping[str, str],
    build_args: Mapping[str, str],
    target: str | None,
    no_cache: bool,
    network: str | None,
) -> dict[str, str]:
    """The query of a BuildKit build, as the docker CLI sends it (``dockerfile`` is added
    where the context's shape is known)."""
    params = {
        "version": "2",
        "t": tag,
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


def _warn_no_session(reason: str) -> None:
    """Say once per reason that builds send their whole context."""
    if reason in _WARNED_NO_SESSION:
        return
    _WARNED_NO_SESSION.add(reason)
    _log.warning(
        f"no BuildKit session ({reason}): each build sends its whole context as a tar, and "
        "secrets, SSH agents and registry credentials cannot be given to it",
        reason=reason,
    )
