"""Measuring from outside: what the container serves over HTTP, and what a process costs."""

from __future__ import annotations

import http.client
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

POLL_S = 0.005  # how often "is the new content served yet?" is asked
_POLLERS = 16  # requests in flight at most


def fetch(port: int, path: str = "/") -> str | None:
    """The body served at ``path``, or None when nothing answers (yet)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        return body.decode(errors="replace") if response.status == 200 else None
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def wait_served(
    port: int,
    marker: str,
    timeout: float,
    path: str = "/",
    gate: Callable[[], bool] | None = None,
) -> float:
    """Poll until ``path`` serves a body containing ``marker``; the perf_counter() time of
    the first answer that did. Raises TimeoutError after ``timeout`` seconds.

    A request is started every :data:`POLL_S` without waiting for the one before, so that
    one slow answer cannot hide the new content. With ``gate``, polling starts once it
    returns True (see :class:`Starts`).
    """
    deadline = time.perf_counter() + timeout
    while gate is not None and not gate():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"port {port}: no container started within {timeout} s")
        time.sleep(POLL_S / 5)
    found = threading.Event()
    answered: list[float] = []

    def ask() -> None:
        body = fetch(port, path)
        if body is not None and marker in body:
            answered.append(time.perf_counter())
            found.set()

    pool = ThreadPoolExecutor(max_workers=_POLLERS, thread_name_prefix="poll")
    try:
        while time.perf_counter() < deadline:
            pool.submit(ask)
            if found.wait(POLL_S):
                return min(answered)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    raise TimeoutError(f"port {port}{path} did not serve {marker!r} within {timeout} s")


class Starts:
    """The engine's container ``start`` events, as they happen (a background reader).

    Why the save → served polls wait for one: a request that reaches the engine's port proxy
    while a container is being replaced, after the proxy listens but before the container's
    network answers, leaves the host's ARP entry for the container's address unresolved, and
    every connection then waits for the next ARP probe, up to a second later. That is the
    engine's and the kernel's doing, the same for every contender, and it falls at random:
    so for a cycle that (re)starts a container, HTTP polling starts at that container's
    ``start`` event.
    """

    def __init__(self, client: Any) -> None:
        self._lock = threading.Lock()
        self._seen: list[tuple[float, dict[str, str]]] = []
        self._stream = client.events(decode=True, filters={"type": "container", "event": "start"})
        self._thread = threading.Thread(target=self._read, daemon=True, name="engine-events")
        self._thread.start()

    def _read(self) -> None:
        try:
            for event in self._stream:
                attributes = dict((event.get("Actor") or {}).get("Attributes") or {})
                with self._lock:
                    self._seen.append((time.perf_counter(), attributes))
        except Exception:  # the stream is closed when the run ends
            return

    def since(self, started: float, key: str, value: str) -> Callable[[], bool]:
        """A gate: whether a container with attribute ``key`` = ``value`` (a label, or
        ``name``) has started since ``started`` (a perf_counter() time)."""

        def gate() -> bool:
            with self._lock:
                return any(at >= started and attrs.get(key) == value for at, attrs in self._seen)

        return gate

    def close(self) -> None:
        self._stream.close()


def wait_until(check: Callable[[], object], timeout: float, what: str, step: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


# --- processes (Linux /proc) -----------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(children.get(current, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICK


def rss_mb(pids: list[int], key: str = "VmRSS") -> float:
    """Resident memory of the processes (``VmHWM``: their peaks), MB."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(key + ":"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def inotify_watches(pids: list[int]) -> int:
    """How many inotify watches the processes hold (one ``inotify wd:`` line each)."""
    count = 0
    for pid in pids:
        fd_dir = Path(f"/proc/{pid}/fd")
        try:
            fds = list(fd_dir.iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) != "anon_inode:inotify":
                    continue
                info = Path(f"/proc/{pid}/fdinfo/{fd.name}").read_text()
            except OSError:
                continue
            count += sum(1 for line in info.splitlines() if line.startswith("inotify wd:"))
    return count


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
