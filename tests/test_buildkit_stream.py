"""devd.buildkit_stream: a BuildKit build's stream read into a BuildResult or BuildFailed.

The streams are shaped like what engine 20.10 sent for the Dockerfile below (a skipped
``docs`` stage, a ``builder`` stage, an unnamed final stage FROM the same base, whose FROM
vertex BuildKit shares with the builder's and sends once)."""

from __future__ import annotations

from typing import Any

import pytest

from devd.core.buildkit_stream import BuildKitStreamParser, strip_nesting
from devd.core.dockerfile import parse, step_lines
from devd.errors import BuildFailed
from tests import buildkit_wire as wire

DOCKERFILE = """\
ARG BASE=devd-busybox:latest
FROM ${BASE} AS docs
COPY docs/ /docs/
RUN cat /docs/* > /all

FROM ${BASE} AS builder
WORKDIR /b
COPY req.txt .
RUN --mount=type=cache,target=/c cp req.txt /wheels.txt

FROM ${BASE}
ENV X=1
COPY --from=builder /wheels.txt /deps
RUN echo hello; echo err >&2
WORKDIR /srv
COPY app/ ./app/
CMD ["sh"]
"""
LINES = step_lines(parse(DOCKERFILE))
BASE = "docker.io/library/devd-busybox:latest"
STEPS = [
    ("sha256:from", f"[builder 1/4] FROM {BASE}"),
    ("sha256:wd", "[builder 2/4] WORKDIR /b"),
    ("sha256:req", "[builder 3/4] COPY req.txt ."),
    ("sha256:pip", "[builder 4/4] RUN --mount=type=cache,target=/c cp req.txt /wheels.txt"),
    ("sha256:deps", "[stage-2 2/5] COPY --from=builder /wheels.txt /deps"),
    ("sha256:echo", "[stage-2 3/5] RUN echo hello; echo err >&2"),
    ("sha256:srv", "[stage-2 4/5] WORKDIR /srv"),
    ("sha256:app", "[stage-2 5/5] COPY app/ ./app/"),
]


def stream(rebuilt: set[str], *, fail: str | None = None) -> list[dict[str, Any]]:
    """The stream of a build in which the steps of ``rebuilt`` (digests) run and the others
    come from the cache; ``fail``: that step fails with exit code 3 after printing."""
    chunks = [
        wire.trace(wire.vertex("sha256:ctx", "[internal] load remote build context")),
        wire.trace(
            wire.vertex(
                "sha256:ctx", "[internal] load remote build context", started=True, completed=True
            )
        ),
        wire.trace(
            wire.vertex(
                "sha256:meta", f"[internal] load metadata for {BASE}", started=True, completed=True
            )
        ),
        wire.trace(*(wire.vertex(digest, name) for digest, name in STEPS)),
    ]
    for digest, name in STEPS:
        if digest not in rebuilt:
            chunks.append(
                wire.trace(wire.vertex(digest, name, cached=True, started=True, completed=True))
            )
            continue
        chunks.append(wire.trace(wire.vertex(digest, name, started=True)))
        if digest == "sha256:echo":
            chunks.append(wire.trace(wire.log(digest, "hel"), wire.status_field(digest)))
            chunks.append(wire.trace(wire.log(digest, "lo\n\x1b[31merr\x1b[0m\n", 2)))
        if digest == fail:
            chunks.append(wire.trace(wire.log(digest, "partial line")))
            reason = f"executor failed running [/bin/sh -c {name}]: exit code: 3"
            chunks.append(
                wire.trace(wire.vertex(digest, name, started=True, completed=True, error=reason))
            )
            chunks.append(
                wire.error(
                    f"failed to solve with frontend dockerfile.v0: failed to build LLB: {reason}"
                )
            )
            return chunks
        chunks.append(wire.trace(wire.vertex(digest, name, started=True, completed=True)))
    chunks += [
        wire.trace(wire.vertex("sha256:export", "exporting to image", started=True)),
        wire.image("sha256:1234"),
        wire.trace(
            wire.vertex("sha256:export", "exporting to image", started=True, completed=True)
        ),
        {"stream": "Successfully tagged devd-p-app:latest\n"},
    ]
    return chunks


def run(chunks: list[dict[str, Any]], **options: Any) -> BuildKitStreamParser:
    parser = BuildKitStreamParser(LINES, **options)
    parser.feed_all(chunks)
    return parser


def test_a_code_save_rebuilds_one_step_and_counts_only_dockerfile_steps() -> None:
    """Each step vertex is one step, cached or rebuilt by its last state; internal vertices,
    the export and the skipped docs stage count as neither; FROM counts as cached."""
    result = run(stream({"sha256:from", "sha256:app"})).finish()
    assert result.image_id == "sha256:1234"
    assert result.builder == "buildkit"
    assert result.summary == "1 of 8 steps rebuilt, 7 cached"
    assert [step.label for step in result.rebuilt] == ["step stage-2 5/5 (COPY app/ ./app/)"]
    assert result.messages == ("Successfully tagged devd-p-app:latest",)


def test_steps_name_their_dockerfile_lines() -> None:
    """The steps map to the Dockerfile's lines through the stage label and number (the
    final stage's own FROM is the builder's shared vertex)."""
    result = run(stream(set())).finish()
    assert [(step.stage, step.number, step.line) for step in result.steps] == [
        ("builder", 1, 6),
        ("builder", 2, 7),
        ("builder", 3, 8),
        ("builder", 4, 9),
        ("stage-2", 2, 13),
        ("stage-2", 3, 14),
        ("stage-2", 4, 15),
        ("stage-2", 5, 16),
    ]


def test_output_is_kept_per_step_and_passed_on_as_lines() -> None:
    """A step's logs are split into lines (pieces joined, colour codes dropped) and kept
    with the step; on_line gets each step as it starts, then its lines."""
    seen: list[str] = []
    result = run(stream({"sha256:echo"}), on_line=seen.append).finish()
    echo = next(step for step in result.steps if step.number == 3 and step.stage == "stage-2")
    assert echo.output == ("hello", "err")
    assert "[stage-2 3/5] RUN echo hello; echo err >&2" in seen
    assert seen[seen.index("[stage-2 3/5] RUN echo hello; echo err >&2") + 1 :][:2] == [
        "hello",
        "err",
    ]
    assert "[builder 2/4] WORKDIR /b (cached)" in seen


def test_a_failing_step_is_named_with_its_line_status_and_output() -> None:
    """The failure names the Dockerfile line and instruction, the reason without BuildKit's
    nesting prefixes, the exit status, and the step's last output (a partial line too)."""
    with pytest.raises(BuildFailed) as caught:
        run(stream({"sha256:pip"}, fail="sha256:pip")).finish()
    error = caught.value
    assert str(error).startswith(
        "build failed at Dockerfile:9 (RUN --mount=type=cache,target=/c cp req.txt /wheels.txt): "
        "executor failed running"
    )
    assert error.command_status == 3
    assert (error.step_number, error.step_total) == (4, 4)
    assert error.output == ("partial line",)
    assert error.created_images == ()


def test_a_failure_before_any_step_is_one_line() -> None:
    """A parse error or a base that cannot be resolved fails the build with the engine's
    reason, without the nesting prefixes."""
    nested = "failed to solve with frontend dockerfile.v0: failed to create LLB definition: "
    parser = run([wire.error(nested + "dockerfile parse error line 3: unknown instruction: ECHO")])
    with pytest.raises(BuildFailed, match=r"^build failed: dockerfile parse error line 3"):
        parser.finish()


def test_a_stream_without_an_image_is_a_failure() -> None:
    """A stream that ends without the image id (cut off) is a failed build."""
    chunks = [c for c in stream({"sha256:app"}) if c.get("id") != "moby.image.id"]
    with pytest.raises(BuildFailed, match="without an image"):
        run(chunks).finish()


def test_on_labels_fires_once_as_the_export_starts_after_a_rebuilt_step() -> None:
    """The export is BuildKit's equivalent of the classic builder's label steps: on_labels
    is called as it starts, once, when a step was rebuilt; not when all were cached."""
    calls: list[int] = []
    chunks = stream({"sha256:app"})
    export = next(i for i, c in enumerate(chunks) if "exporting" in str(wire_names(c)))
    parser = BuildKitStreamParser(LINES, on_labels=lambda: calls.append(1))
    parser.feed_all(chunks[:export])
    assert calls == []
    parser.feed_all(chunks[export:])
    assert calls == [1]
    cached: list[int] = []
    run(stream(set()), on_labels=lambda: cached.append(1)).finish()
    assert cached == []


def test_on_labels_is_not_called_for_a_failed_build() -> None:
    calls: list[int] = []
    parser = run(stream({"sha256:pip"}, fail="sha256:pip"), on_labels=lambda: calls.append(1))
    with pytest.raises(BuildFailed):
        parser.finish()
    assert calls == []


def test_an_unreadable_trace_is_a_message_not_a_failure() -> None:
    """A progress message devd cannot decode is noted; the build's result still counts."""
    chunks = stream({"sha256:app"})
    chunks.insert(4, {"id": "moby.buildkit.trace", "aux": "!!"})
    result = run(chunks).finish()
    assert result.summary == "1 of 8 steps rebuilt, 7 cached"
    assert result.messages[0].startswith("unreadable BuildKit progress")


def test_a_connection_lost_mid_build_names_it() -> None:
    """interrupted() says the build could not start, or that the engine went mid-build."""
    fresh = BuildKitStreamParser(LINES)
    assert "could not start" in str(fresh.interrupted(OSError("refused")))
    parser = run(stream({"sha256:app"})[:6])
    assert "lost the engine mid-build: it no longer answers (gone)" in str(
        parser.interrupted(OSError("reset"), "gone")
    )


def test_padded_step_numbers_and_single_stage_names_map_to_lines() -> None:
    """BuildKit pads the step number to the width of the total ("[ 2/12]") and leaves the
    stage out of a single-stage Dockerfile's names."""
    text = "FROM x\n" + "".join(f"RUN echo {i}\n" for i in range(11))
    parser = BuildKitStreamParser(step_lines(parse(text)))
    parser.feed_all(
        [
            wire.trace(wire.vertex("sha256:r", "[ 2/12] RUN echo 0", started=True, completed=True)),
            wire.image("sha256:1"),
        ]
    )
    (step,) = parser.finish().steps
    assert (step.stage, step.number, step.total, step.line) == (None, 2, 12, 2)


def test_nesting_prefixes_are_stripped_in_any_order() -> None:
    assert strip_nesting("failed to solve: rpc error: code = Unknown desc = x") == "x"


def wire_names(chunk: dict[str, Any]) -> list[str]:
    from devd.core.buildkit_trace import decode_aux

    if chunk.get("id") != "moby.buildkit.trace":
        return []
    return [vertex.name for vertex in decode_aux(chunk["aux"]).vertexes]
