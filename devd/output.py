"""What ``devd up`` shows: devd's own events through structlog, containers' output prefixed.

Container lines look like compose's (``app  | serving on port 8000``) on a terminal, and are
``{"event": "output", "service": ..., "line": ...}`` objects with ``--log-format json``.
Lines from several threads never interleave mid-line.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any, TextIO

import structlog

_COLOURS = ("\x1b[36m", "\x1b[33m", "\x1b[32m", "\x1b[35m", "\x1b[34m", "\x1b[91m")
_RESET = "\x1b[0m"


class Output:
    """The daemon's one way to say anything."""

    def __init__(self, json_lines: bool, services: list[str], stream: TextIO | None = None) -> None:
        self.json_lines = json_lines
        self.stream = stream or sys.stdout
        self.colour = not json_lines and self.stream.isatty()
        self.width = max((len(name) for name in services), default=3)
        self.log = structlog.get_logger("devd")
        self._lock = threading.Lock()
        self._colours = {name: _COLOURS[i % len(_COLOURS)] for i, name in enumerate(services)}

    def line(self, service: str, line: str, *, stream: str = "output") -> None:
        """One line a container (or, with ``stream="build"``, a build) printed."""
        if self.json_lines:
            text = json.dumps({"event": stream, "service": service, "line": line})
        else:
            tag = service if stream == "output" else f"{service} build"
            prefix = f"{tag:<{self.width}} | "
            if self.colour:
                prefix = f"{self._colours.get(service, '')}{prefix}{_RESET}"
            text = prefix + line
        with self._lock:
            print(text, file=self.stream, flush=True)

    def info(self, event: str, **fields: Any) -> None:
        with self._lock:
            self.log.info(event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        with self._lock:
            self.log.warning(event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        with self._lock:
            self.log.error(event, **fields)

    def debug(self, event: str, **fields: Any) -> None:
        with self._lock:
            self.log.debug(event, **fields)
