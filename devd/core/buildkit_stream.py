"""A BuildKit build's JSON stream (``POST /build?version=2``) read into a BuildResult.

The engine sends, one JSON object each::

    {"id": "moby.buildkit.trace", "aux": "<base64 StatusResponse>"}   <- progress (buildkit_trace)
    {"id": "moby.image.id", "aux": {"ID": "sha256:..."}}               <- the image, at the end
    {"stream": "Successfully tagged NAME:TAG\\n"}
    {"error": "...", "errorDetail": {"message": "..."}}                <- a failure

Each vertex of the trace is one operation; the Dockerfile's steps are the vertices named
``[STAGE N/M] INSTRUCTION`` (``[N/M] ...`` for a single-stage Dockerfile; N and M count the
stage's FROM and its ADD/COPY/RUN/WORKDIR, see :class:`devd.core.dockerfile.StepLines`). A vertex is
sent again as it starts, completes or fails; its last state counts. Decisions:

* A step is *cached* when its vertex says so; the other steps that started were rebuilt,
  except FROM, which only looks its base image up and counts as cached (as under the
  classic builder; BuildKit marks it either way).
  Stages the target does not need are never sent, so they count as neither. A vertex BuildKit
  shares between stages (two stages ``FROM`` the same image) is sent once, under the first
  stage's name. ``[internal] ...`` vertices (loading the context, the base's metadata) and
  ``exporting to image`` are the engine's own work, not steps.
* Build labels are written by the exporter into the image's configuration, not by steps: the
  equivalent of the classic builder's label steps is the export. ``on_labels`` is called once,
  as ``exporting to image`` starts, when at least one step was rebuilt (every step has then
  succeeded and the image will be a new one).
* The failing step is the step vertex that carries an error; the reason is the engine's error
  without BuildKit's nesting prefixes ("failed to solve with frontend dockerfile.v0: ...").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from devd.core.build_result import (
    FAILURE_TAIL_LINES,
    BuildResult,
    LineCallback,
    StepResult,
    error_text,
    interruption,
)
from devd.core.buildkit_trace import TRACE_ID, Vertex, decode_aux
from devd.core.dockerfile import StepLines
from devd.errors import BuildFailed, TraceError

IMAGE_ID = "moby.image.id"
EXPORT = "exporting to image"

_STEP_RE = re.compile(
    r"^\[(?:(?P<stage>[^\s\]]+)\s+)?\s*(?P<number>\d+)/(?P<total>\d+)\] (?P<text>.*)$", re.S
)
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_EXIT_RE = re.compile(r"exit code: (\d+)")
_NESTING = (
    "failed to solve with frontend dockerfile.v0: ",
    "failed to solve: ",
    "failed to create LLB definition: ",
    "failed to build LLB: ",
    "rpc error: code = Unknown desc = ",
)


@dataclass
class _VertexDraft:
    """What is known of one vertex so far (its last state) and what it printed."""

    name: str
    step: re.Match[str] | None
    cached: bool = False
    started: bool = False
    error: str = ""
    output: list[str] = field(default_factory=list)
    pending: str = ""

    def update(self, vertex: Vertex) -> None:
        # FROM only looks its base up (BuildKit marks it cached or not as its own cache
        # happens to hold the lookup): it counts as cached, as under the classic builder.
        self.cached = vertex.cached or self.is_from
        self.started = self.started or vertex.started
        self.error = vertex.error or self.error

    @property
    def is_from(self) -> bool:
        return self.step is not None and self.step["text"].upper().startswith("FROM ")

    def freeze(self, lines: StepLines) -> StepResult:
        assert self.step is not None
        stage, number = self.step["stage"], int(self.step["number"])
        return StepResult(
            number=number,
            total=int(self.step["total"]),
            instruction=self.step["text"],
            cached=self.cached,
            output=tuple(self.output),
            line=lines.of_buildkit(stage, number),
            stage=stage,
        )


class BuildKitStreamParser:
    """Turns a BuildKit build's decoded JSON stream into a BuildResult (or BuildFailed).

    Feed it every object in order, then call :meth:`finish`. ``lines`` maps the steps to the
    Dockerfile's lines; ``on_line`` gets each step as it starts and each line it prints;
    ``on_labels`` see the module docstring. Both are called from the reading thread.
    """

    def __init__(
        self,
        lines: StepLines | None = None,
        *,
        on_line: LineCallback | None = None,
        on_labels: Callable[[], None] | None = None,
    ) -> None:
        self._lines = lines or StepLines()
        self._on_line = on_line
        self._on_labels = on_labels
        self._vertexes: dict[str, _VertexDraft] = {}
        self._messages: list[str] = []
        self._image_id: str | None = None
        self._error: str | None = None

    def feed_all(self, chunks: Iterable[Mapping[str, Any]]) -> None:
        for chunk in chunks:
            self.feed(chunk)

    def feed(self, chunk: Mapping[str, Any]) -> None:
        if "error" in chunk or "errorDetail" in chunk:
            if self._error is None:
                self._error = strip_nesting(error_text(chunk, 400))
        elif chunk.get("id") == TRACE_ID:
            self._trace(chunk.get("aux"))
        elif chunk.get("id") == IMAGE_ID:
            aux = chunk.get("aux")
            if isinstance(aux, Mapping) and "ID" in aux:
                self._image_id = str(aux["ID"])
        elif "stream" in chunk:
            self._messages += [line for line in str(chunk["stream"]).splitlines() if line]

    def finish(self) -> BuildResult:
        """The result once the stream has ended; raises BuildFailed if it was not a success."""
        self._flush()
        if self._error is not None:
            raise self._build_failed(self._error)
        if self._image_id is None:
            raise self._build_failed("the engine ended the build without an image")
        steps = sorted(
            (d.freeze(self._lines) for d in self._steps() if d.started or d.cached),
            key=lambda step: step.line or 0,  # stages run side by side: Dockerfile order
        )
        return BuildResult(self._image_id, tuple(steps), tuple(self._messages), "buildkit")

    def interrupted(self, error: BaseException, gone: str | None = None) -> BuildFailed:
        """The BuildFailed for a connection that broke (or a request refused) mid-build;
        ``gone`` says why the engine no longer answers, if it does not."""
        self._flush()
        started = any(draft.started for draft in self._vertexes.values())
        return self._build_failed(interruption(started, error, gone))

    def _trace(self, aux: object) -> None:
        try:
            status = decode_aux(aux)
        except TraceError as error:  # a message devd cannot read: the rest still can be
            self._messages.append(f"unreadable BuildKit progress: {error}")
            return
        for vertex in status.vertexes:
            self._vertex(vertex)
        for log in status.logs:
            draft = self._vertexes.get(log.vertex)
            if draft is not None:
                self._output(draft, log.data.decode("utf-8", "replace"))

    def _vertex(self, vertex: Vertex) -> None:
        draft = self._vertexes.get(vertex.digest)
        if draft is None:
            draft = _VertexDraft(vertex.name, _STEP_RE.match(vertex.name))
            self._vertexes[vertex.digest] = draft
        announced = draft.started or draft.cached
        draft.update(vertex)
        if draft.step is not None and not announced and (draft.started or draft.cached):
            self._say(f"{draft.name} (cached)" if draft.cached else draft.name)
        if vertex.name == EXPORT and vertex.started and not vertex.completed:
            self._exporting()

    def _exporting(self) -> None:
        on_labels, self._on_labels = self._on_labels, None
        if on_labels is None or self._error is not None:
            return
        if any(d.started and not d.cached and not d.error for d in self._steps()):
            on_labels()

    def _output(self, draft: _VertexDraft, text: str) -> None:
        draft.pending += text
        *complete, draft.pending = draft.pending.split("\n")
        for raw in complete:
            self._output_line(draft, raw)

    def _output_line(self, draft: _VertexDraft, raw: str) -> None:
        line = _ANSI_RE.sub("", raw).rstrip("\r")
        draft.output.append(line)
        self._say(line)

    def _flush(self) -> None:
        for draft in self._vertexes.values():
            if draft.pending:
                pending, draft.pending = draft.pending, ""
                self._output_line(draft, pending)

    def _say(self, line: str) -> None:
        if self._on_line is not None:
            self._on_line(line)

    def _steps(self) -> list[_VertexDraft]:
        return [draft for draft in self._vertexes.values() if draft.step is not None]

    def _build_failed(self, reason: str) -> BuildFailed:
        failed = next((d for d in reversed(self._steps()) if d.error), None)
        if failed is None:
            return BuildFailed(
                f"build failed: {reason}", output=self._messages[-FAILURE_TAIL_LINES:]
            )
        step = failed.freeze(self._lines)
        where = f"{self._lines.name}:{step.line}" if step.line else step.label.split(" (")[0]
        status = _EXIT_RE.search(reason)
        return BuildFailed(
            f"build failed at {where} ({step.instruction}): {reason}",
            step=step.instruction,
            step_number=step.number,
            step_total=step.total,
            output=step.output[-FAILURE_TAIL_LINES:],
            command_status=int(status[1]) if status else None,
        )


def strip_nesting(reason: str) -> str:
    """BuildKit's error without the prefixes of the layers it passed through."""
    stripped = True
    while stripped:
        stripped = False
        for prefix in _NESTING:
            if reason.startswith(prefix):
                reason, stripped = reason[len(prefix) :], True
    return reason
