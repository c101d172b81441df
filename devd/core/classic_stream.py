"""The classic builder's output (``POST /build``, version 1) read into a :class:`BuildResult`:
pure, fed the decoded JSON objects in order. The stream, joined and split into lines, reads
like ``docker build`` without BuildKit::

    Step 4/7 : RUN cat req.txt > /deps        <- a step starts ("Step N/M : " + instruction)
     ---> Using cache                         <- ... and was taken from the cache
     ---> Running in 3f2c0d1e5a6b             <- (or) a container runs it
    <what the command prints; stderr arrives wrapped in ANSI colour codes>
    Removing intermediate container 3f2c0d1e5a6b
     ---> f64b59fd4b3b                        <- the step's resulting image
    {"aux": {"ID": "sha256:..."}}             <- the final image id
    Successfully built f64b59fd4b3b / Successfully tagged NAME:TAG

A failure is an ``{"error": ..., "errorDetail": {"message": ..., "code": N}}`` object.

Decisions:

* A step is *cached* when the engine printed ``---> Using cache`` for it. A ``FROM`` step never
  prints that, yet does no work (it only looks the base image up), so it counts as cached;
  so does a step that printed no ``--->`` line at all (an ``ARG`` before the first ``FROM``).
  Any other step without ``Using cache`` was rebuilt, even when it printed nothing but its
  image id: an uncached ``COPY`` prints exactly that.
* Build labels are applied by the classic builder as extra ``LABEL k=v`` steps (one per label,
  sorted by key) appended to the last stage, and counted in "Step N/M". They are kept in
  ``BuildResult.steps`` with ``from_labels=True`` but left out of the rebuilt/cached counts,
  which describe the Dockerfile.
* ``StepResult.output`` holds what the step's command printed, without the engine's
  bookkeeping lines (``--->`` lines, ``Removing intermediate container``); ``on_line`` gets
  every line, bookkeeping included, with colour codes removed.
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
from devd.core.dockerfile import StepLines
from devd.errors import BuildFailed

_STEP_RE = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_BOOKKEEPING_RE = re.compile(r"^ ---> |^Removing intermediate container ")
_USING_CACHE = " ---> Using cache"
_BUILT_RE = re.compile(r"^Successfully built ([0-9a-f]+)$")
_STEP_IMAGE_RE = re.compile(r"^ ---> ([0-9a-f]{12,64})$")


@dataclass
class _StepDraft:
    number: int
    total: int
    instruction: str
    from_labels: bool
    cached: bool = False
    made_image: bool = False  # the engine printed a " ---> " line for it
    output: list[str] = field(default_factory=list)

    @property
    def is_from(self) -> bool:
        return [word.upper() for word in self.instruction.split(maxsplit=1)[:1]] == ["FROM"]

    def freeze(self, lines: StepLines) -> StepResult:
        # FROM only looks its base up; an ARG before the first FROM prints nothing at all.
        keyword = self.instruction.split(maxsplit=1)[0].upper()
        cached = self.cached or keyword == "FROM" or not self.made_image
        return StepResult(
            number=self.number,
            total=self.total,
            instruction=self.instruction,
            cached=cached,
            output=tuple(self.output),
            from_labels=self.from_labels,
            line=None if self.from_labels else lines.of_classic(self.number),
        )


class BuildStreamParser:
    """Turns the classic builder's decoded JSON stream into a BuildResult (or BuildFailed).

    Feed it every object in order, then call :meth:`finish`. ``label_count`` is the number of
    build labels given, i.e. of ``LABEL`` steps the engine appends.
    """

    def __init__(
        self,
        *,
        label_count: int = 0,
        lines: StepLines | None = None,
        on_line: LineCallback | None = None,
        on_labels: Callable[[], None] | None = None,
    ) -> None:
        self._label_count = label_count
        self._lines = lines or StepLines()
        self._on_line = on_line
        self._on_labels = on_labels
        self._pending = ""
        self._steps: list[StepResult] = []
        self._current: _StepDraft | None = None
        self._messages: list[str] = []
        self._image_id: str | None = None
        self._built_id: str | None = None
        self._error: Mapping[str, Any] | None = None
        self._failed_step: _StepDraft | None = None
        self._created: list[str] = []  # images of the steps this build made (not cached)

    def feed_all(self, chunks: Iterable[Mapping[str, Any]]) -> None:
        for chunk in chunks:
            self.feed(chunk)

    def feed(self, chunk: Mapping[str, Any]) -> None:
        if "error" in chunk or "errorDetail" in chunk:
            self._fail(chunk)
        elif "stream" in chunk:
            self._text(str(chunk["stream"]))
        elif "aux" in chunk:
            self._aux(chunk["aux"])
        elif "status" in chunk:
            self._text(_status_line(chunk))

    def finish(self) -> BuildResult:
        """The result once the stream has ended; raises BuildFailed if it was not a success."""
        self._flush()
        if self._error is not None:
            raise self._build_failed(error_text(self._error), self._error_status())
        image_id = self._image_id or self._built_id
        if image_id is None:
            raise self._build_failed("the engine ended the build without an image", None)
        self._close_step()
        return BuildResult(image_id, tuple(self._steps), tuple(self._messages))

    def interrupted(self, error: BaseException, gone: str | None = None) -> BuildFailed:
        """The BuildFailed for a connection that broke (or a request refused) mid-build;
        ``gone`` says why the engine no longer answers, if it does not."""
        self._flush()
        started = self._current is not None or bool(self._steps)
        return self._build_failed(interruption(started, error, gone), None)

    def _text(self, text: str) -> None:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._line(line)

    def _flush(self) -> None:
        if self._pending:
            line, self._pending = self._pending, ""
            self._line(line)

    def _line(self, raw: str) -> None:
        line = _ANSI_RE.sub("", raw).rstrip("\r")
        if self._on_line is not None:
            self._on_line(line)
        step = _STEP_RE.match(line)
        if step is not None:
            self._start_step(int(step[1]), int(step[2]), step[3])
            return
        built = _BUILT_RE.match(line)
        if built is not None:
            self._built_id = built[1]
            self._close_step()
        if self._current is None:
            self._messages.append(line)
        elif line.startswith(_USING_CACHE):
            self._current.cached = True
        elif line.startswith(" ---> "):
            self._current.made_image = True
            made = _STEP_IMAGE_RE.match(line)
            if made is not None and not self._current.cached and not self._current.is_from:
                self._created.append(made[1])  # FROM's line names the base image
        elif _BOOKKEEPING_RE.match(line) is None:
            self._current.output.append(line)

    def _start_step(self, number: int, total: int, instruction: str) -> None:
        self._close_step()
        from_labels = number > total - self._label_count
        self._current = _StepDraft(number, total, instruction, from_labels)
        if from_labels and self._on_labels is not None and self._error is None:
            on_labels, self._on_labels = self._on_labels, None
            if any(not step.cached for step in self._steps if not step.from_labels):
                on_labels()

    def _close_step(self) -> None:
        if self._current is not None:
            self._steps.append(self._current.freeze(self._lines))
            self._current = None

    def _aux(self, aux: Any) -> None:
        if isinstance(aux, Mapping) and "ID" in aux:
            self._image_id = str(aux["ID"])
            self._close_step()

    def _fail(self, chunk: Mapping[str, Any]) -> None:
        self._flush()
        if self._error is None:
            self._error = chunk
            self._failed_step = self._current

    def _error_status(self) -> int | None:
        detail = self._error.get("errorDetail") if self._error is not None else None
        code = detail.get("code") if isinstance(detail, Mapping) else None
        return code if isinstance(code, int) else None

    def _build_failed(self, reason: str, status: int | None) -> BuildFailed:
        step = self._failed_step or self._current
        if step is None:
            return BuildFailed(
                f"build failed: {reason}",
                output=self._messages[-FAILURE_TAIL_LINES:],
                created_images=self._created,
            )
        return BuildFailed(
            f"build failed at step {step.number}/{step.total} ({step.instruction}): {reason}",
            step=step.instruction,
            step_number=step.number,
            step_total=step.total,
            output=step.output[-FAILURE_TAIL_LINES:],
            command_status=status,
            created_images=self._created,
        )


def _status_line(chunk: Mapping[str, Any]) -> str:
    """A pull progress object as one line (``"<id>: Downloading"``)."""
    ident = chunk.get("id")
    status = str(chunk["status"])
    return f"{ident}: {status}\n" if ident else f"{status}\n"
