"""What a build reports, whichever builder ran it: each step rebuilt or cached, the image."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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
