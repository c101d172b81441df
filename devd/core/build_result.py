"""What a build reports, whichever builder ran it: each step rebuilt or cached, the image."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from devd.errors import one_line

FAILURE_TAIL_LINES = 20
"""Lines of a failed step's output a BuildFailed keeps."""

LineCallback = Callable[[str], None]


@dataclass(frozen=True)
class StepResult:
    """One step of a build, as the engine reported it: the classic builder's "Step N/M", or
    BuildKit's "[STAGE N/M]" (``stage`` is then BuildKit's stage label, None for a
    single-stage Dockerfile). ``line`` is the Dockerfile line the step comes from, when known.
    """

    number: int
    total: int
    instruction: str
    cached: bool
    output: tuple[str, ...]
    from_labels: bool = False
    line: int | None = None
    stage: str | None = None

    @property
    def keyword(self) -> str:
        """The instruction's keyword in upper case (``RUN``, ``COPY``...)."""
        return self.instruction.split(maxsplit=1)[0].upper() if self.instruction else ""

    @property
    def label(self) -> str:
        """``"step 4/7 (RUN make)"``, ``"step builder 2/4 (COPY . .)"``: how messages name
        the step."""
        stage = f"{self.stage} " if self.stage else ""
        return f"step {stage}{self.number}/{self.total} ({self.instruction})"


@dataclass(frozen=True)
class BuildResult:
    """A finished build: the image id and what each step did."""

    image_id: str
    steps: tuple[StepResult, ...]
    messages: tuple[str, ...] = ()
    """Lines outside any step: warnings, ``Successfully built/tagged``."""
    builder: str = "classic"
    """Which builder made it: ``classic`` or ``buildkit``."""
    session_bytes: int | None = None
    """Bytes devd wrote on the build's BuildKit session (the context's listing, the files
    the engine asked for, their framing); None for a build without a session."""
    file_bytes: int | None = None
    """Of those, the bytes of the files' contents (what changed since the last build)."""

    @property
    def dockerfile_steps(self) -> tuple[StepResult, ...]:
        """The steps that come from the Dockerfile (not the engine's build-label steps)."""
        return tuple(step for step in self.steps if not step.from_labels)

    @property
    def rebuilt(self) -> tuple[StepResult, ...]:
        return tuple(step for step in self.dockerfile_steps if not step.cached)

    @property
    def cached(self) -> tuple[StepResult, ...]:
        return tuple(step for step in self.dockerfile_steps if step.cached)

    @property
    def summary(self) -> str:
        """``"1 of 7 steps rebuilt, 6 cached"``."""
        total = len(self.dockerfile_steps)
        noun = "step" if total == 1 else "steps"
        return f"{len(self.rebuilt)} of {total} {noun} rebuilt, {len(self.cached)} cached"


def error_text(chunk: Mapping[str, Any], limit: int = 200) -> str:
    """The message of a build stream's ``{"error": ..., "errorDetail": ...}`` object."""
    detail = chunk.get("errorDetail")
    message = detail.get("message") if isinstance(detail, Mapping) else None
    return one_line(str(message or chunk.get("error") or "unknown error"), limit)


def interruption(started: bool, error: BaseException, gone: str | None) -> str:
    """Why a build whose connection broke (or whose request was refused) failed: it could not
    start, or it lost the engine mid-build; ``gone`` says why the engine no longer answers,
    if it does not."""
    if not started:
        reason = gone or getattr(error, "explanation", None) or error
        return f"the build could not start: {one_line(str(reason))}"
    why = f"it no longer answers ({gone})" if gone is not None else one_line(str(error))
    return f"lost the engine mid-build: {why}"
