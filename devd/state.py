"""What devd keeps between runs, outside the project tree: the run lock and the last builds.

The lock is an ``flock`` on a file in devd's state directory, so a second ``devd up`` on the
same project is refused while the first lives, and a lock left by a killed process never
blocks (the kernel drops it with the process). The record of the last build per service lets
``devd status`` say how the last build went after ``devd up`` has exited; beside it, a short
history of recent cycles per service (the kind of change and the paths that triggered it) lets
``devd doctor`` see a dependency manifest that changes on nearly every build. ``devd
rebuild SERVICE...`` leaves the services it names for the running ``devd up`` to take.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from devd.errors import DevdError


class AlreadyRunning(DevdError):
    """Another ``devd up`` holds this project's lock."""

    exit_code = 2


def state_dir(project: str, root: Path) -> Path:
    """``$XDG_STATE_HOME/devd/<project>-<hash of root>`` (default ``~/.local/state``)."""
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:12]
    return base / "devd" / f"{project}-{digest}"


class RunLock:
    """Held by ``devd up`` for its whole life."""

    def __init__(self, directory: Path, project: str) -> None:
        self.path = directory / "up.lock"
        self.project = project
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise AlreadyRunning(
                f"devd up is already running for project {self.project!r} (pid {holder}); "
                f"use that terminal, or stop it first (lock: {self.path})"
            ) from error
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle

    def holder(self) -> int | None:
        """The pid of the ``devd up`` holding the lock, or ``None`` when nobody holds it."""
        try:
            handle = self.path.open("a+")
        except OSError:
            return None
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                text = handle.read().strip()
                return int(text) if text.isdigit() else -1
            fcntl.flock(handle, fcntl.LOCK_UN)
            return None

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


CYCLE_HISTORY = 50
"""How many recent cycles are kept per service."""
CYCLE_PATHS = 20
"""How many trigger paths are kept per cycle (``path_count`` keeps the full number)."""

_builds_lock = threading.Lock()  # builds.json: read, changed and written whole
_cycles_lock = threading.Lock()  # one read-modify-write of cycles.json at a time (per process)


REBUILD_REQUEST = "rebuild-request"


def request_rebuild(directory: Path, services: Iterable[str]) -> None:
    """Leave ``services`` for the running ``devd up`` (it is signalled next), one a line;
    requests made before it takes them add up."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / REBUILD_REQUEST).open("a", encoding="utf-8") as file:
        file.writelines(f"{name}\n" for name in services)


def take_rebuild_request(directory: Path) -> list[str] | None:
    """The services ``devd rebuild`` asked for since the last take (None: no request, as
    from an older devd, which means every service)."""
    path = directory / REBUILD_REQUEST
    taken = path.with_name(f"{REBUILD_REQUEST}.{os.getpid()}")
    try:
        path.rename(taken)
    except FileNotFoundError:
        return None
    try:
        return list(dict.fromkeys(taken.read_text(encoding="utf-8").split()))
    finally:
        taken.unlink(missing_ok=True)


@dataclass(frozen=True)
class Cycle:
    """One recorded cycle: when, the kind of change that triggered it (``code``,
    ``dependency``, ``dockerfile``, or ``manual`` for work no change triggered), the trigger
    paths (at most CYCLE_PATHS) and how many there were."""

    at: str
    kind: str
    paths: tuple[str, ...]
    path_count: int


BEHIND = "behind"  # a build record's key: its container holds an exec the image lacks


class BuildRecord:
    """The last build of each service, and its recent cycles, as JSON in the state directory."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "builds.json"
        self.cycles_path = directory / "cycles.json"

    def read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def write(self, service: str, **fields: Any) -> None:
        """Record ``service``'s last build (each service's controller writes its own entry;
        the lock keeps two of them from losing each other's, or racing for the temp file)."""
        with _builds_lock:
            data = self.read()
            data[service] = {"at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **fields}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text(json.dumps(data, indent=2), encoding="utf-8")
            temporary.replace(self.path)

    def behind(self, service: str) -> str | None:
        """The container of ``service`` that holds a dependency exec its image lacks, if
        any (:mod:`devd.daemon.installing`)."""
        entry = self.read().get(service)
        behind = entry.get(BEHIND) if isinstance(entry, dict) else None
        container = behind.get("container") if isinstance(behind, dict) else None
        return container if isinstance(container, str) else None

    def record_cycle(self, service: str, kind: str, paths: Iterable[str]) -> None:
        """Append one cycle of ``service`` to its history (the oldest beyond CYCLE_HISTORY go).

        ``kind`` is the batch's strongest kind (``str(Kind)``), or ``"manual"``; ``paths``
        are the project-relative paths of that kind that triggered it.
        """
        listed = list(paths)
        entry = {
            "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "kind": kind,
            "paths": listed[:CYCLE_PATHS],
            "path_count": len(listed),
        }
        with _cycles_lock:
            data = _read_json(self.cycles_path)
            history = data.get(service)
            kept = history if isinstance(history, list) else []
            data[service] = [*kept, entry][-CYCLE_HISTORY:]
            _write_json(self.cycles_path, data)

    def cycles(self, service: str) -> list[Cycle]:
        """``service``'s recorded cycles, oldest first (entries that do not parse are skipped)."""
        history = _read_json(self.cycles_path).get(service)
        if not isinstance(history, list):
            return []
        return [cycle for entry in history if (cycle := _cycle(entry)) is not None]


def _cycle(entry: Any) -> Cycle | None:
    if not isinstance(entry, dict):
        return None
    kind, paths = entry.get("kind"), entry.get("paths")
    if not isinstance(kind, str) or not isinstance(paths, list):
        return None
    listed = tuple(str(path) for path in paths)
    count = entry.get("path_count")
    return Cycle(
        at=str(entry.get("at", "")),
        kind=kind,
        paths=listed,
        path_count=count if isinstance(count, int) else len(listed),
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=2), encoding="utf-8")
    temporary.replace(path)
