"""Driving a real ``devd up`` in a subprocess, the way a developer's terminal does.

``UpProcess`` starts ``devd up`` on a sample project with JSON logs, reads its events as they
come, and offers the checks the end-to-end tests need: what the container serves over HTTP,
which events devd printed, its exit code after a signal.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

DEVD = [sys.executable, "-m", "devd.cli"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def fetch(port: int, path: str = "/") -> str | None:
    """The body served at ``path``, or None when nothing answers (yet), or the answer was cut
    off (the container was replaced while it answered: IncompleteRead)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            body: bytes = response.read()
            return body.decode()
    except (urllib.error.URLError, ConnectionError, OSError, http.client.HTTPException):
        return None


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def served(port: int, expected: str, timeout: float = 30, path: str = "/") -> str:
    """Wait until the container serves a body containing ``expected`` (at ``path``)."""
    body: str = wait_for(
        lambda: (b := fetch(port, path)) is not None and expected in b and b,
        timeout,
        f"{expected!r} on port {port}",
    )
    return body


def run_devd(project: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DEVD, "-C", str(project), "--log-format", "json", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


class UpProcess:
    """A running ``devd up`` whose JSON events are collected in ``events``; ``wrapper`` is a
    command that runs it (``setpriv ...``: devd with fewer privileges)."""

    def __init__(
        self,
        project: Path,
        *args: str,
        stdin: int | None = None,
        wrapper: Sequence[str] = (),
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.project = project
        self.events: list[dict[str, Any]] = []
        self.stderr_lines: list[str] = []
        self._lock = threading.Lock()
        self.process = subprocess.Popen(
            [*wrapper, *DEVD, "-C", str(project), "--log-format", "json", *args, "up"],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(environ or {})},
        )
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True),
            threading.Thread(target=self._read, args=(self.process.stderr,), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            try:
                event = json.loads(line)
            except ValueError:
                with self._lock:
                    self.stderr_lines.append(line.rstrip("\n"))
                continue
            with self._lock:
                self.events.append(event if isinstance(event, dict) else {"event": event})

    def named(self, event: str, **fields: Any) -> list[dict[str, Any]]:
        with self._lock:
            return [
                e
                for e in self.events
                if e.get("event") == event and all(e.get(k) == v for k, v in fields.items())
            ]

    def wait_event(
        self, event: str, count: int = 1, timeout: float = 60, **fields: Any
    ) -> dict[str, Any]:
        found = wait_for(
            lambda: len(self.named(event, **fields)) >= count and self.named(event, **fields),
            timeout,
            f"{count} x {event} {fields} (saw: {self.summary()})",
        )
        return found[count - 1]  # type: ignore[no-any-return]

    def summary(self) -> str:
        with self._lock:
            names = [str(e.get("event")) for e in self.events if e.get("event") != "output"]
        return ", ".join(names[-15:]) + " | " + " / ".join(self.stderr_lines[-3:])

    def stop(self, sig: int = signal.SIGINT, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout=timeout)
        self.close()
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.close()

    def close(self) -> None:
        for reader in self._readers:
            reader.join(timeout=5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


SAMPLE_DOCKERFILE = """\
ARG BASE
FROM ${BASE}
WORKDIR /app
COPY deps.txt .
RUN sh -c '! grep -q BROKEN deps.txt' && cp deps.txt /deps.txt
COPY www/ /app/www/
CMD ["sh", "-c", "if [ -f /app/www/crash ]; then echo crashing; exit 3; fi; \\
mkdir -p /srv && cp -r /app/www/. /srv/ && cp /deps.txt /srv/deps.txt && \\
exec httpd -f -p 8000 -h /srv"]
"""


class Sample:
    """A sample project in a temp dir, with its own project name and host port."""

    def __init__(self, root: Path, name: str, port: int, code_action: str = "rebuild") -> None:
        self.root = root
        self.name = name
        self.port = port
        self.write("Dockerfile", SAMPLE_DOCKERFILE)
        self.write(".dockerignore", "**/*.log\nsecrets/\n")
        self.write("deps.txt", f"deps-1 {name}\n")
        self.write("www/index.html", f"version-1 {name}\n")
        self.write("devd.toml", self.devd_toml(port, f'code_action = "{code_action}"\n'))

    def devd_toml(self, port: int, extra: str = "") -> str:
        """The sample's devd.toml: service ``app`` on host ``port``, with ``extra`` lines."""
        return (
            f'project = "{self.name}"\ndebounce_ms = 50\n[services.app]\n'
            f'ports = ["{port}:8000"]\nbuild_args = {{ BASE = "devd-busybox:latest" }}\n'
            f"stop_timeout = 2\n{extra}"
        )

    def write(self, name: str, text: str) -> None:
        """Write a file; every text ends with the project name, so no earlier run's build
        cache can answer for it."""
        text = (
            text
            if name in ("Dockerfile", "devd.toml", ".dockerignore")
            else f"{text.rstrip()} {self.name}\n"
        )
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
