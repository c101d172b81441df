"""The plain data the checks look at: the files the build context sends, the image's layer
history, and everything about one service together. ``gather`` reads them; the checks only
take them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from devd.core.builders import Builder
from devd.core.classify import BuildView
from devd.state import Cycle


@dataclass(frozen=True)
class ContextFile:
    """A regular file the build context sends: context-relative path and size in bytes."""

    path: str
    size: int


@dataclass(frozen=True)
class ContextListing:
    """The files the context sends; ``truncated`` when the walk stopped at its limit,
    ``error`` when a directory could not be read."""

    files: tuple[ContextFile, ...]
    truncated: bool = False
    error: str | None = None

    @property
    def size(self) -> int:
        return total_size(self.files)


def total_size(files: Iterable[ContextFile]) -> int:
    """Bytes in ``files``."""
    return sum(file.size for file in files)


@dataclass(frozen=True)
class Layer:
    """One entry of ``docker history``: the instruction that made it and its size."""

    created_by: str
    size: int


@dataclass(frozen=True)
class ImageFacts:
    """The image devd builds for the service: ``layers`` newest first as ``docker history``
    lists them; ``None`` when there is no such image (or ``problem`` says why not read)."""

    tag: str
    layers: tuple[Layer, ...] | None
    problem: str | None = None


@dataclass(frozen=True)
class ServiceFacts:
    """Everything the checks look at for one service."""

    view: BuildView
    ignore_text: str | None  # None: no ignore file applies
    context: ContextListing
    cycles: tuple[Cycle, ...] = ()
    image: ImageFacts | None = None
    dockerfile_no_cache: bool = False
    config_source: str = "devd.toml"
    builder: Builder | None = None
    """The builder devd will use (None: ``auto`` with no engine to ask)."""
    engine_major: int | None = None
    """The engine's major version, when it was asked (what BuildKit's frontend can read)."""
    env_texts: Mapping[str, str | None] = field(default_factory=dict)
    """The text of each env file (``.env``, ``.env.*``) the context sends, by its path; None
    when it could not be read as text (it is then weighed as a secret)."""
