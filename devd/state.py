"""What devd keeps between runs, outside the project tree: the run lock and the last builds.

The lock is an ``flock`` on a file in devd's state directory, so a second ``devd up`` on the
same project is refused while the first lives, and a lock left by a killed process never
blocks (the kernel drops it with the process). The record of the last build per service lets
``devd status`` say how the last build went after ``devd up`` has exited.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
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


class BuildRecord:
    """The last build of each service, as JSON in the state directory."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "builds.json"

    def read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def write(self, service: str, **fields: Any) -> None:
        data = self.read()
        data[service] = {"at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **fields}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data, indent=2), encoding="utf-8")
        temporary.replace(self.path)
