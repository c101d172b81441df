"""devd.engine: reading the classic builder's stream, and building on the real engine."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import docker
import pytest

from devd.core.classic_stream import BuildStreamParser
from devd.engine.context import build_context
from devd.engine.engine import BuildResult, Engine, connect, unavailable_message
from devd.errors import BuildFailed, EngineUnavailable

# The stream engine 20.10 sent for a fully cached rebuild with one build label: note the
# step header and its newline arriving as separate objects.
CACHED_STREAM: list[dict[str, Any]] = [
    {"stream": "Step 1/4 : FROM devd-busybox:latest"},
    {"stream": "\n"},
    {"stream": " ---> 89d0875e4df1\n"},
    {"stream": "Step 2/4 : COPY req.txt ."},
    {"stream": "\n"},
    {"stream": " ---> Using cache\n"},
    {"stream": " ---> 95eb3c368690\n"},
    {"stream": "Step 3/4 : RUN cat req.txt > /deps"},
    {"stream": "\n"},
    {"stream": " ---> Using cache\n"},
    {"stream": " ---> f64b59fd4b3b\n"},
    {"stream": "Step 4/4 : LABEL devd.test=x1"},
    {"stream": "\n"},
    {"stream": " ---> Running in d9130d6fdfb2\n"},
    {"stream": "Removing intermediate container d9130d6fdfb2\n"},
    {"stream": " ---> d07f03c618f0\n"},
    {"aux": {"ID": "sha256:d07f03c618f04f6b"}},
    {"stream": "Successfully built d07f03c618f0\n"},
    {"stream": "Successfully tagged devd-exp:latest\n"},
]

# A RUN that prints to stdout and stderr (stderr comes wrapped in ANSI colours), then fails.
FAILING_STREAM: list[dict[str, Any]] = [
    {"stream": "Step 1/2 : FROM devd-busybox:latest"},
    {"stream": "\n"},
    {"stream": " ---> 89d0875e4df1\n"},
    {"stream": "Step 2/2 : RUN echo out; echo err >&2; exit 3"},
    {"stream": "\n"},
    {"stream": " ---> Running in 7fec4072b67e\n"},
    {"stream": "out\nline1\n"},
    {"stream": "\x1b[91merr\n\x1b[0m"},
    {"stream": "Removing intermediate container 7fec4072b67e\n"},
    {
        "errorDetail": {
            "code": 3,
            "message": "The command '/bin/sh -c ...' returned a non-zero code: 3",
        },
        "error": "The command '/bin/sh -c ...' returned a non-zero code: 3",
    },
]

BASE_DOCKERFILE = "FROM {base}\nWORKDIR /app\nCOPY req.txt .\nRUN cat req.txt > /deps\nCOPY . .\n"


def parse(chunks: list[dict[str, Any]], label_count: int = 0) -> BuildResult:
    parser = BuildStreamParser(label_count=label_count)
    parser.feed_all(chunks)
    return parser.finish()


def parse_failure(chunks: list[dict[str, Any]]) -> BuildFailed:
    with pytest.raises(BuildFailed) as caught:
        parse(chunks)
    return caught.value


# --- the stream parser, on recorded streams (no engine needed) -------------------------------


def test_parser_reads_steps_cache_and_image_id() -> None:
    """Step headers split across objects still start steps; "Using cache" marks a step cached;
    the aux ID is the image id; lines after the last step are build messages."""
    result = parse(CACHED_STREAM, label_count=1)
    assert [step.instruction for step in result.steps] == [
        "FROM devd-busybox:latest",
        "COPY req.txt .",
        "RUN cat req.txt > /deps",
        "LABEL devd.test=x1",
    ]
    assert [(step.number, step.total) for step in result.steps] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert result.image_id == "sha256:d07f03c618f04f6b"
    assert result.messages == (
        "Successfully built d07f03c618f0",
        "Successfully tagged devd-exp:latest",
    )


def test_from_step_counts_as_cached_and_label_steps_are_left_out_of_the_summary() -> None:
    """FROM never prints "Using cache" but does no work: cached. The LABEL step the engine adds
    for a build label is kept but flagged, and not counted."""
    result = parse(CACHED_STREAM, label_count=1)
    assert result.steps[0].cached
    assert result.steps[-1].from_labels
    assert not result.steps[-1].cached
    assert result.rebuilt == ()
    assert result.summary == "0 of 3 steps rebuilt, 3 cached"


def test_uncached_copy_with_only_an_id_line_counts_as_rebuilt() -> None:
    """An uncached COPY prints nothing but its image id: no "Using cache" means rebuilt."""
    chunks = [
        {"stream": "Step 1/2 : FROM devd-busybox:latest\n ---> 89d0875e4df1\n"},
        {"stream": "Step 2/2 : COPY . .\n ---> ec1a4b96cd92\n"},
        {"aux": {"ID": "sha256:ec1a"}},
    ]
    result = parse(chunks)
    assert [step.instruction for step in result.rebuilt] == ["COPY . ."]
    assert result.summary == "1 of 2 steps rebuilt, 1 cached"


def test_step_output_drops_bookkeeping_and_colour_codes() -> None:
    """A step's output is what its command printed, stdout and stderr, without the engine's
    "--->"/"Removing intermediate container" lines or ANSI colour codes."""
    lines: list[str] = []
    parser = BuildStreamParser(on_line=lines.append)
    parser.feed_all(FAILING_STREAM[:-1])
    parser.feed({"aux": {"ID": "sha256:abc"}})
    result = parser.finish()
    assert result.steps[1].output == ("out", "line1", "err")
    assert "Removing intermediate container 7fec4072b67e" in lines
    assert "err" in lines


def test_error_object_raises_build_failed_naming_the_step() -> None:
    """An error object fails the build: the message names the step, the exception carries the
    instruction, the step's last output lines and the command's exit status."""
    failure = parse_failure(FAILING_STREAM)
    assert "step 2/2 (RUN echo out; echo err >&2; exit 3)" in str(failure)
    assert "returned a non-zero code: 3" in str(failure)
    assert failure.step == "RUN echo out; echo err >&2; exit 3"
    assert (failure.step_number, failure.step_total) == (2, 2)
    assert failure.output == ("out", "line1", "err")
    assert failure.command_status == 3


def test_failure_names_the_images_the_failed_build_made_but_not_cached_ones() -> None:
    """BuildFailed.created_images holds the image of each step the build made before the
    failure, first step first; a cached step's image (and FROM's base) is not among them."""
    stream = [
        *CACHED_STREAM[:6],  # FROM, then COPY req.txt from the cache (95eb3c368690)
        {"stream": "Step 3/4 : COPY . .\n"},
        {"stream": " ---> 3c1a9f0e7b2d\n"},
        {"stream": "Step 4/4 : RUN exit 3\n"},
        {"stream": " ---> Running in 7fec4072b67e\n"},
        {"stream": "Removing intermediate container 7fec4072b67e\n"},
        FAILING_STREAM[-1],
    ]
    assert parse_failure(stream).created_images == ("3c1a9f0e7b2d",)
    assert parse_failure(FAILING_STREAM).created_images == ()


def test_failure_output_keeps_the_last_twenty_lines() -> None:
    """A chatty failing step keeps only its last 20 lines in the exception."""
    chunks = [
        {"stream": "Step 1/1 : RUN seq 50\n"},
        {"stream": "".join(f"{n}\n" for n in range(1, 51))},
        {"error": "boom", "errorDetail": {"message": "boom"}},
    ]
    failure = parse_failure(chunks)
    assert failure.output == tuple(str(n) for n in range(31, 51))


def test_stream_ending_without_an_image_is_a_failure() -> None:
    """A stream that stops without an error nor an image id (engine gone) fails the build at
    the step it was in."""
    failure = parse_failure(CACHED_STREAM[:8])
    assert failure.step == "RUN cat req.txt > /deps"
    assert "without an image" in str(failure)


def test_unavailable_message_names_the_default_socket_and_what_to_do() -> None:
    """Without DOCKER_HOST the message names the default socket and how to start an engine."""
    message = unavailable_message({}, ConnectionRefusedError("refused"))
    assert "unix:///var/run/docker.sock" in message
    assert "scripts/setup-engine" in message
    assert "\n" not in message


def test_unreachable_engine_raises_engine_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    """DOCKER_HOST pointing at nothing: connect() raises EngineUnavailable naming it."""
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
    with pytest.raises(EngineUnavailable) as caught:
        connect()
    assert "tcp://127.0.0.1:1" in str(caught.value)
    assert "DOCKER_HOST" in str(caught.value)


# --- builds on the real engine ---------------------------------------------------------------


@pytest.fixture
def app(tmp_path: Path, busybox_image: str) -> Path:
    """A context whose Dockerfile installs "dependencies" from req.txt before copying code."""
    root = tmp_path / "app"
    root.mkdir()
    (root / "Dockerfile").write_text(BASE_DOCKERFILE.format(base=busybox_image))
    (root / "req.txt").write_text("requests==2\n")
    (root / "app.py").write_text("print('v1')\n")
    return root


class Builder:
    """Builds a directory with the test's tag and labels."""

    def __init__(self, engine: Engine, tag: str, labels: Mapping[str, str]) -> None:
        self.engine = engine
        self.tag = tag
        self.labels = labels

    def build(
        self,
        root: Path,
        *,
        dockerfile: Path | None = None,
        no_cache: bool = False,
        target: str | None = None,
        build_args: Mapping[str, str] | None = None,
    ) -> BuildResult:
        with build_context(root, dockerfile or root / "Dockerfile", []) as context:
            return self.engine.builds.build(
                context,
                tag=self.tag,
                labels=self.labels,
                build_args=build_args or {},
                target=target,
                no_cache=no_cache,
            )


@pytest.fixture
def builder(engine: Engine, image_tag: str, test_labels: dict[str, str]) -> Builder:
    return Builder(engine, image_tag, test_labels)


def run(client: Any, image: str, *command: str) -> str:
    output: bytes = client.containers.run(image, list(command), remove=True)
    return output.decode()


@pytest.mark.engine
def test_first_build_without_cache_rebuilds_every_step(
    builder: Builder, app: Path, docker_client: Any
) -> None:
    """no_cache rebuilds every step but FROM; the image gets the tag and the labels."""
    result = builder.build(app, no_cache=True)
    assert result.summary == "4 of 5 steps rebuilt, 1 cached"
    image = docker_client.images.get(builder.tag)
    assert image.id == result.image_id
    assert image.labels == builder.labels


@pytest.fixture
def built(builder: Builder, app: Path) -> Builder:
    """``builder`` after a first, uncached build of ``app``."""
    builder.build(app, no_cache=True)
    return builder


@pytest.mark.engine
def test_code_change_rebuilds_only_the_last_copy(
    built: Builder, app: Path, docker_client: Any
) -> None:
    """Changing a code file invalidates only ``COPY . .``: the dependency RUN stays cached."""
    (app / "app.py").write_text("print('v2')\n")
    result = built.build(app)
    assert [step.instruction for step in result.rebuilt] == ["COPY . ."]
    run_step = next(step for step in result.steps if step.keyword == "RUN")
    assert run_step.cached
    assert result.summary == "1 of 5 steps rebuilt, 4 cached"
    assert run(docker_client, built.tag, "cat", "/app/app.py") == "print('v2')\n"


@pytest.mark.engine
def test_requirements_change_reruns_the_dependency_step(built: Builder, app: Path) -> None:
    """Changing req.txt invalidates its COPY, the RUN after it, and everything later."""
    (app / "req.txt").write_text("requests==3\n")
    result = built.build(app)
    assert [step.instruction for step in result.rebuilt] == [
        "COPY req.txt .",
        "RUN cat req.txt > /deps",
        "COPY . .",
    ]


@pytest.mark.engine
def test_unchanged_rebuild_is_fully_cached(built: Builder, app: Path) -> None:
    """Building the same tree again reuses every step and gives the same image."""
    first = built.build(app)
    second = built.build(app)
    assert second.rebuilt == ()
    assert second.image_id == first.image_id


@pytest.mark.engine
def test_dockerfile_and_dockerignore_do_not_reach_the_image(
    builder: Builder, tmp_path: Path, busybox_image: str, docker_client: Any
) -> None:
    """An outside Dockerfile (sent as .devd.Dockerfile) and the .dockerignore devd sends are
    dropped by the engine before ``COPY . .``: the image holds only the project's files."""
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "app.py").write_text("print()\n")
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"FROM {busybox_image}\nCOPY . /app\n")
    builder.build(context, dockerfile=dockerfile)
    assert run(docker_client, builder.tag, "ls", "-A", "/app").split() == ["app.py"]


@pytest.mark.engine
def test_target_and_build_args_reach_the_engine(
    builder: Builder, tmp_path: Path, busybox_image: str, docker_client: Any
) -> None:
    """``target`` stops at the named stage (a later failing stage is not built) and
    ``build_args`` fill ARGs."""
    (tmp_path / "Dockerfile").write_text(
        f"FROM {busybox_image} AS base\nARG GREETING=hello\nRUN echo $GREETING > /greeting\n"
        "FROM base AS broken\nRUN exit 1\n"
    )
    result = builder.build(tmp_path, target="base", build_args={"GREETING": "hi"})
    assert [step.keyword for step in result.dockerfile_steps] == ["FROM", "ARG", "RUN"]
    assert run(docker_client, builder.tag, "cat", "/greeting") == "hi\n"


@pytest.mark.engine
def test_failing_run_raises_build_failed_with_its_output(
    builder: Builder, tmp_path: Path, busybox_image: str
) -> None:
    """A RUN that exits non-zero: BuildFailed names that step and carries what it printed."""
    (tmp_path / "Dockerfile").write_text(
        f"FROM {busybox_image}\nRUN echo compiling; echo 'oops: bad' >&2; exit 7\n"
    )
    with pytest.raises(BuildFailed) as caught:
        builder.build(tmp_path)
    failure = caught.value
    assert failure.step == "RUN echo compiling; echo 'oops: bad' >&2; exit 7"
    assert "step 2/3" in str(failure)
    # stdout and stderr travel separately: their relative order is not kept.
    assert sorted(failure.output) == ["compiling", "oops: bad"]
    assert failure.command_status == 7


@pytest.mark.engine
def test_dockerfile_the_engine_rejects_raises_build_failed(
    builder: Builder, tmp_path: Path
) -> None:
    """A Dockerfile the engine cannot parse fails before any step, with the engine's reason."""
    (tmp_path / "Dockerfile").write_text("FROM scratch\nFROBNICATE now\n")
    with pytest.raises(BuildFailed, match="unknown instruction") as caught:
        builder.build(tmp_path)
    assert caught.value.step is None


@pytest.mark.engine
def test_silent_engine_fails_the_build_after_the_idle_timeout(
    engine: Engine, image_tag: str, test_labels: dict[str, str], tmp_path: Path, busybox_image: str
) -> None:
    """An engine that sends nothing for longer than build_idle_timeout fails the build (here a
    step sleeping past it) instead of hanging."""
    (tmp_path / "Dockerfile").write_text(f"FROM {busybox_image}\nRUN sleep 5\n")
    impatient = Engine(engine.client, build_idle_timeout=1)
    with pytest.raises(BuildFailed, match="lost the engine") as caught:
        Builder(impatient, image_tag, test_labels).build(tmp_path)
    assert caught.value.step == "RUN sleep 5"


class CuttingProxy:
    """A TCP front for the engine's unix socket that drops a connection as soon as the engine
    sends ``trigger``: the engine disappearing mid-build, as the client sees it."""

    def __init__(self, socket_path: str, trigger: bytes) -> None:
        self.socket_path = socket_path
        self.trigger = trigger
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.threads: list[threading.Thread] = []
        self._spawn(self._accept)

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self.threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.socket_path)
            self.sockets += [client, upstream]
            self._spawn(self._pipe, client, upstream, b"")
            self._spawn(self._pipe, upstream, client, self.trigger)

    def _pipe(self, source: socket.socket, sink: socket.socket, trigger: bytes) -> None:
        try:
            while data := source.recv(65536):
                if trigger and trigger in data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            _shut(end)

    def close(self) -> None:
        _shut(self.listener)
        self.listener.close()
        for sock in self.sockets:
            _shut(sock)
        for thread in self.threads:
            thread.join(timeout=5)
        for sock in self.sockets:
            sock.close()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def cutting_proxy(engine: Engine) -> Iterator[CuttingProxy]:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        pytest.skip(f"the cutting proxy fronts a unix socket; DOCKER_HOST is {host}")
    proxy = CuttingProxy(host.removeprefix("unix://"), trigger=b"Running in")
    yield proxy
    proxy.close()


@pytest.mark.engine
def test_engine_vanishing_mid_build_raises_build_failed(
    cutting_proxy: CuttingProxy,
    monkeypatch: pytest.MonkeyPatch,
    image_tag: str,
    test_labels: dict[str, str],
    tmp_path: Path,
    busybox_image: str,
) -> None:
    """The connection dropping while a step runs fails the build at that step, at once."""
    (tmp_path / "Dockerfile").write_text(f"FROM {busybox_image}\nRUN sleep 2\n")
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{cutting_proxy.port}")
    with connect() as proxied, pytest.raises(BuildFailed) as caught:
        Builder(proxied, image_tag, test_labels).build(tmp_path)
    assert caught.value.step == "RUN sleep 2"


def _rebuilt(stream: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``stream`` with its cached steps rebuilt instead (no "Using cache" lines)."""
    return [chunk for chunk in stream if chunk != {"stream": " ---> Using cache\n"}]


def test_on_labels_fires_once_when_the_label_steps_start_after_a_rebuilt_step() -> None:
    """``on_labels`` is called as the first build-label step starts, and only when a
    Dockerfile step was rebuilt (the image is then new): never for a fully cached build."""
    seen: list[str] = []
    parser = BuildStreamParser(label_count=1, on_labels=lambda: seen.append("labels"))
    for chunk in _rebuilt(CACHED_STREAM):
        parser.feed(chunk)
        if chunk == {"stream": "Step 4/4 : LABEL devd.test=x1"}:
            assert seen == []  # the header's line is not complete yet
        if chunk == {"stream": "\n"} and seen:
            break
    assert seen == ["labels"]
    parser.feed_all([{"stream": "Step 4/4 : LABEL again\n"}])
    assert seen == ["labels"]

    cached: list[str] = []
    parse_with = BuildStreamParser(label_count=1, on_labels=lambda: cached.append("labels"))
    parse_with.feed_all(CACHED_STREAM)
    parse_with.finish()
    assert cached == []


def test_on_labels_is_not_called_for_a_failed_build() -> None:
    seen: list[str] = []
    parser = BuildStreamParser(label_count=1, on_labels=lambda: seen.append("labels"))
    parser.feed_all(FAILING_STREAM)
    with pytest.raises(BuildFailed):
        parser.finish()
    assert seen == []


def test_interrupted_build_says_the_engine_no_longer_answers() -> None:
    """A build stream cut while the engine has gone names that, with the engine's reason,
    and keeps the step it was at; a cut with the engine still there gives the error."""
    parser = BuildStreamParser()
    parser.feed({"stream": "Step 1/2 : FROM devd-busybox:latest\n"})
    parser.feed({"stream": "Step 2/2 : RUN sleep 60\n"})
    gone = parser.interrupted(ConnectionError("Connection broken"), "Connection refused")
    assert str(gone).endswith(
        "lost the engine mid-build: it no longer answers (Connection refused)"
    )
    assert gone.step == "RUN sleep 60"
    cut = BuildStreamParser()
    cut.feed({"stream": "Step 1/1 : RUN sleep 60\n"})
    assert str(cut.interrupted(ConnectionError("Read timed out"))).endswith(
        "lost the engine mid-build: Read timed out"
    )


@pytest.mark.engine
def test_unreachable_is_none_for_a_live_engine_and_why_for_a_dead_one(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The ping the engine watch uses: None while the engine answers; the OS's reason when
    its unix socket does not accept (no ResourceWarning from a half-made connection)."""
    assert engine.transport.unreachable() is None
    dead = f"unix://{tmp_path}/docker.sock"
    monkeypatch.setenv("DOCKER_HOST", dead)
    with Engine(docker.DockerClient(base_url=dead, version="1.41")) as gone:
        assert gone.transport.unreachable() == "No such file or directory"


@pytest.fixture
def frozen_socket(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """DOCKER_HOST at a socket that accepts connections but never answers (dockerd stopped
    by SIGSTOP, or hung); pings and connecting give up after 0.3 s."""
    monkeypatch.setattr("devd.engine.transport.PING_TIMEOUT", 0.3)
    monkeypatch.setattr("devd.engine.transport.CONNECT_TIMEOUT", 0.3)
    path = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as frozen:
        frozen.bind(str(path))
        frozen.listen(16)  # the kernel accepts; nobody ever reads or answers
        monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
        yield f"unix://{path}"


def test_unreachable_says_a_frozen_engine_accepts_but_does_not_answer(frozen_socket: str) -> None:
    """A frozen engine: the ping gives up after PING_TIMEOUT and says so, with how long it
    waited."""
    client = docker.DockerClient(base_url=frozen_socket, version="1.41")
    with Engine(client) as hung:
        assert hung.transport.unreachable() == "accepts connections but has not answered for 0.3 s"


def test_connecting_to_a_frozen_engine_fails_within_the_ping_timeout(frozen_socket: str) -> None:
    """Any devd command against a frozen engine: one line naming the socket and saying it
    does not answer, after CONNECT_TIMEOUT (not docker-py's minute)."""
    started = time.monotonic()
    with pytest.raises(EngineUnavailable) as caught:
        connect()
    assert time.monotonic() - started < 5
    assert str(caught.value) == (
        f"the engine at {frozen_socket} (from DOCKER_HOST) accepts connections but has not "
        "answered for 0.3 s; restart dockerd or fix DOCKER_HOST"
    )
