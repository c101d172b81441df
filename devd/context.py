"""The build context the engine receives: a tar of the context directory, minus ignored files.

docker-py does the matching (``exclude_paths``, the same ``PatternMatcher`` devd.ignore uses)
and the tar writing (``create_archive``); this module decides what goes in beside the files,
the way the docker CLI does:

* The Dockerfile is always sent. Inside the context it keeps its relative path, even when the
  ignore patterns exclude it. Outside the context its text is added as ``.devd.Dockerfile``.
* A ``.dockerignore`` holding the patterns the caller used is always sent (replacing the
  context's own, if any), so the engine's view matches devd's: after reading the Dockerfile
  the engine deletes the Dockerfile and ``.dockerignore`` from the context when those patterns
  exclude them, so ``COPY . .`` does not pick them up. Files devd adds that the context does
  not have (the generated Dockerfile; ``.dockerignore`` when the context has none) are listed
  in that ``.dockerignore`` for the same reason.
"""

from __future__ import annotations

import os
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

from docker.utils.build import create_archive, exclude_paths

from devd.errors import BuildContextError
from devd.ignore import DOCKERIGNORE

GENERATED_DOCKERFILE = ".devd.Dockerfile"
"""Name inside the archive of a Dockerfile that lies outside the context directory."""


@dataclass(frozen=True)
class ContextArchive:
    """An uncompressed tar build context in an anonymous temporary file, positioned at 0.

    ``dockerfile`` is the Dockerfile's path inside the archive (``/``-separated), ``size``
    the archive's length in bytes, ``file_count`` its number of regular files (including the
    ``.dockerignore`` and any generated Dockerfile). Close it (or use ``with``) when done.
    """

    fileobj: IO[bytes]
    dockerfile: str
    size: int
    file_count: int

    def close(self) -> None:
        self.fileobj.close()

    def __enter__(self) -> ContextArchive:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


@dataclass(frozen=True)
class _Dockerfile:
    """Where the Dockerfile goes in the archive; ``text`` is set when it must be added."""

    name: str
    text: str | None


def build_context(context_dir: Path, dockerfile: Path, excludes: Sequence[str]) -> ContextArchive:
    """Tar ``context_dir`` minus what ``excludes`` (.dockerignore patterns) exclude.

    Raises BuildContextError when the directory or the Dockerfile is missing or a file in
    the context cannot be read.
    """
    root = _context_root(context_dir)
    placed = _place_dockerfile(root, dockerfile)
    # exclude_paths appends "!<dockerfile>" to the list it is given: hand it a copy.
    files = exclude_paths(str(root), list(excludes), dockerfile=placed.name)
    extra_files = [(DOCKERIGNORE, _ignore_text(root, excludes, placed))]
    if placed.text is not None:
        extra_files.append((placed.name, placed.text))
    fileobj = _archive(root, sorted(files), extra_files)
    return ContextArchive(
        fileobj=fileobj,
        dockerfile=placed.name,
        size=_size(fileobj),
        file_count=_count_files(fileobj),
    )


def _context_root(context_dir: Path) -> Path:
    root = context_dir.resolve()
    if not root.is_dir():
        raise BuildContextError(f"{context_dir}: build context is not a directory")
    return root


def _place_dockerfile(root: Path, dockerfile: Path) -> _Dockerfile:
    """Inside the context: its relative path. Outside: the generated name and its text."""
    resolved = dockerfile.resolve()
    if not resolved.is_file():
        raise BuildContextError(f"{dockerfile}: Dockerfile not found")
    if resolved.is_relative_to(root):
        return _Dockerfile(resolved.relative_to(root).as_posix(), None)
    try:
        text = resolved.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise BuildContextError(f"{dockerfile}: cannot read Dockerfile: {error}") from error
    return _Dockerfile(GENERATED_DOCKERFILE, text)


def _ignore_text(root: Path, excludes: Sequence[str], placed: _Dockerfile) -> str:
    """The ``.dockerignore`` sent: the caller's patterns, plus the files devd made up."""
    patterns = list(excludes)
    if not (root / DOCKERIGNORE).is_file():
        patterns.append(DOCKERIGNORE)
    if placed.text is not None:
        patterns.append(placed.name)
    return "".join(f"{pattern}\n" for pattern in patterns)


def _archive(root: Path, files: list[str], extra_files: list[tuple[str, str]]) -> IO[bytes]:
    fileobj = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the caller in ContextArchive
    try:
        create_archive(root=str(root), files=files, fileobj=fileobj, extra_files=extra_files)
    except OSError as error:
        fileobj.close()
        raise BuildContextError(f"{root}: cannot archive build context: {error}") from error
    return fileobj


def _size(fileobj: IO[bytes]) -> int:
    size = fileobj.seek(0, os.SEEK_END)
    fileobj.seek(0)
    return size


def _count_files(fileobj: IO[bytes]) -> int:
    """Regular files in the archive (reads only the headers), leaving it at position 0."""
    with tarfile.open(fileobj=fileobj, mode="r:") as archive:
        count = sum(1 for member in archive if member.isfile())
    fileobj.seek(0)
    return count
