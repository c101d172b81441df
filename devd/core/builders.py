"""Which builder builds a service, and what each builder can build. Pure.

The engine has two: the *classic* builder (``POST /build``, ``version=1``) and *BuildKit*
(``version=2``). ``builder = "auto"`` takes the one the engine recommends: its ``/_ping``
answers ``Builder-Version: 2`` (engine 23 and newer), or, from engines that do not say
(20.10), BuildKit on a Linux engine with API 1.39 or newer (BuildKit's first, engine 18.09),
the classic builder elsewhere.

What each can build, for a Dockerfile feature one of them lacks (:func:`unsupported`):

* the classic builder: no ``RUN --mount``, no ``COPY/ADD --chmod`` or ``--link``, no
  heredocs, no automatic platform ARGs (``FROM --platform=$BUILDPLATFORM`` fails in it);
* BuildKit of engine 20.10 (its built-in Dockerfile frontend 1.2): no heredocs and no
  ``COPY --link`` (both arrived in Dockerfile frontend 1.4, built into engine 23).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from devd.core.dockerfile import Dockerfile, Instruction

BuilderChoice = Literal["auto", "buildkit", "classic"]
Builder = Literal["buildkit", "classic"]
BUILDER_CHOICES: tuple[BuilderChoice, ...] = ("auto", "buildkit", "classic")

_BUILDKIT_API = (1, 39)
_MODERN_FRONTEND_ENGINE = 23  # engine major version whose built-in frontend has heredocs
_PLATFORM_ARGS = re.compile(
    r"\$\{?(BUILDPLATFORM|TARGETPLATFORM|BUILDOS|BUILDARCH|TARGETOS|TARGETARCH|TARGETVARIANT)\b"
)


def recommended(headers: Mapping[str, str]) -> Builder:
    """The builder an engine recommends, from its ``/_ping`` answer's headers."""
    said = _header(headers, "Builder-Version")
    if said is not None:
        return "buildkit" if said.strip() == "2" else "classic"
    linux = (_header(headers, "OSType") or "linux").lower() == "linux"
    return (
        "buildkit"
        if linux and _api(_header(headers, "Api-Version")) >= _BUILDKIT_API
        else "classic"
    )


def resolve(choice: BuilderChoice, engine_recommends: Builder) -> Builder:
    """The builder ``choice`` means on an engine that recommends ``engine_recommends``."""
    return engine_recommends if choice == "auto" else choice


@dataclass(frozen=True)
class Unsupported:
    """A Dockerfile feature the chosen builder lacks: where, what, and what would build it."""

    instruction: Instruction
    feature: str
    remedy: str

    def message(self, dockerfile: str) -> str:
        return f"{dockerfile}:{self.instruction.line}: {self.feature}; {self.remedy}"


def unsupported(
    dockerfile: Dockerfile, builder: Builder, engine_major: int | None
) -> list[Unsupported]:
    """The features of ``dockerfile``'s stages that ``builder`` cannot build on an engine of
    major version ``engine_major`` (None: not known, taken as a current engine)."""
    instructions = list(dockerfile.preamble) + [
        step.instruction for stage in dockerfile.stages for step in stage.steps
    ]
    check = _classic if builder == "classic" else _buildkit
    # A ``# syntax=`` frontend is fetched by BuildKit and reads what it reads (or fails to be
    # fetched, which the build then says); the engine's built-in one is its version's.
    modern = (
        engine_major is None
        or engine_major >= _MODERN_FRONTEND_ENGINE
        or dockerfile.syntax is not None
    )
    return [problem for instruction in instructions for problem in check(instruction, modern)]


def asks_frontend(dockerfile: Dockerfile) -> bool:
    """Whether ``dockerfile`` uses a feature only newer Dockerfile frontends have (so what
    BuildKit can build depends on the engine's version)."""
    return any(
        i.heredoc or (i.keyword in ("COPY", "ADD") and "link" in _flag_names(i))
        for i in _instructions(dockerfile)
    )


def _instructions(dockerfile: Dockerfile) -> list[Instruction]:
    return list(dockerfile.preamble) + [
        step.instruction for stage in dockerfile.stages for step in stage.steps
    ]


def _flag_names(instruction: Instruction) -> set[str]:
    return {flag.removeprefix("--").partition("=")[0].lower() for flag in instruction.flags}


_NEEDS_BUILDKIT = 'needs BuildKit (builder = "auto" or "buildkit")'


def _classic(instruction: Instruction, modern: bool) -> Iterator[Unsupported]:
    flags = _flag_names(instruction)
    if instruction.keyword == "RUN" and "mount" in flags:
        yield Unsupported(instruction, "RUN --mount " + _NEEDS_BUILDKIT, "or drop the --mount")
    for flag in ("chmod", "link"):
        if instruction.keyword in ("COPY", "ADD") and flag in flags:
            yield Unsupported(
                instruction,
                f"{instruction.keyword} --{flag} {_NEEDS_BUILDKIT}",
                f"or drop --{flag}",
            )
    if instruction.heredoc:
        yield Unsupported(instruction, "a heredoc " + _NEEDS_BUILDKIT, "of engine 23 or newer")
    if instruction.keyword == "FROM" and any(
        _PLATFORM_ARGS.search(flag) for flag in instruction.flags
    ):
        yield Unsupported(
            instruction,
            "the automatic platform ARGs (BUILDPLATFORM, TARGETPLATFORM...) come from BuildKit",
            'set builder = "auto" or "buildkit"',
        )


def _buildkit(instruction: Instruction, modern: bool) -> Iterator[Unsupported]:
    if modern:
        return
    flags = _flag_names(instruction)
    if instruction.heredoc:
        yield Unsupported(
            instruction,
            "this engine's built-in Dockerfile frontend has no heredocs",
            "write the commands with && and \\ line continuations, or use engine 23 or newer",
        )
    if instruction.keyword in ("COPY", "ADD") and "link" in flags:
        yield Unsupported(
            instruction,
            "this engine's built-in Dockerfile frontend has no COPY --link",
            "drop --link, or use engine 23 or newer",
        )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def _api(version: str | None) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in (version or "").split("."))
    except ValueError:
        return (0,)


def frontend_failure(dockerfile: Dockerfile, path: str, reason: str) -> str | None:
    """devd's line for a BuildKit build that failed before any step because the ``# syntax=``
    frontend could not be fetched (``reason`` the engine's); None for any other failure."""
    image = dockerfile.syntax
    if image is None or not (_GATEWAY in reason or image.split(":")[0] in reason):
        return None
    cause = reason.split(_GATEWAY, 1)[-1]
    return (
        f"{path}: # syntax={image}: the engine could not fetch this Dockerfile frontend "
        f"({cause}); drop the line to build with the engine's own frontend"
    )


_GATEWAY = "failed to solve with frontend gateway.v0: "


_REGISTRY_REFUSED = re.compile(
    r"pulling from host (?P<host>\S+) failed with status code \[[^\]]*\]: "
    r"(?P<status>401 Unauthorized|403 Forbidden)"
)


def registry_refusal(reason: str) -> str | None:
    """devd's line for a BuildKit build whose base image's registry refused the credentials
    the session gave (``reason`` the engine's); None for any other failure."""
    found = _REGISTRY_REFUSED.search(reason)
    if found is None:
        return None
    host = found["host"]
    return (
        f"the registry {host} refused the credentials from your Docker config "
        f"({found['status']}); docker login {host} (devd reads your Docker config at each build)"
    )
