"""Containers' output through the logs API: following a container's lines until it stops,
and its last lines (:class:`Logs`).

What the engine (20.10) does that shaped this module:

* A followed log stream ends when the container stops or is removed, sometimes before the
  engine has logged what the container left without a final newline. Log entries are lines
  cut at 16 KiB; stdout and stderr entries interleave even between the pieces of one line.
  A restart keeps the log file, and a stream followed across a restart can end with the new
  run's first lines (the engine drains the file after the run stops).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import docker.errors

from devd.engine.container_spec import NEVER_STARTED
from devd.engine.transport import Transport, engine_said, short_id

_LATE_ENTRIES = 4  # log entries to check for ones logged after a followed stream ended


class Logs:
    """Reading containers' output, through ``transport``."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def follow(self, container_id: str) -> Iterator[str]:
        """Its output lines (stdout and stderr, in the order logged) until it stops or is
        removed; ends at once if it is gone already. A running container's lines start with
        its current run (after restart_container the earlier run is not repeated); a
        stopped one's are all its output."""
        what = f"following the logs of container {short_id(container_id)}"
        lines = _LogLines()
        with self._transport.call(what):
            attrs = self._transport.inspect(container_id)
            if attrs is None:
                return
            since = _current_run_start(attrs)
            try:
                stream = self._log_frames(container_id, follow=True, since=since)
            except docker.errors.APIError as error:
                if _gone(error):
                    return
                raise
        try:
            with self._transport.call(what):
                for frame in stream:
                    yield from lines.feed(frame)
        finally:
            stream.close()
        with self._transport.call(what):
            late = self._late_frames(container_id, lines, since)
        for frame in late:
            yield from lines.feed(frame)
        yield from lines.finish()

    def _late_frames(self, container_id: str, lines: _LogLines, since: float | None) -> list[bytes]:
        """The entries the engine logged after ending a followed stream. It ends the stream
        as the container stops, and can log what the container left unfinished (output
        without a final newline) only after that: look for unseen entries at the end."""
        attrs = self._transport.inspect(container_id)
        status = (attrs or {}).get("State", {}).get("Status")
        if status not in ("exited", "created"):
            return []  # gone, going, or running again after a restart (a new follow shows it)
        try:
            stream = self._log_frames(container_id, follow=False, tail=_LATE_ENTRIES, since=since)
        except docker.errors.APIError as error:
            if _gone(error):
                return []
            raise
        try:
            return [frame for frame in stream if not lines.seen(frame)]
        finally:
            stream.close()

    def tail(self, container_id: str, lines: int = 20) -> list[str]:
        """Its last ``lines`` output lines; [] if it is gone."""
        if lines <= 0:
            return []
        assembled = _LogLines()
        with self._transport.call(f"reading the logs of container {short_id(container_id)}"):
            try:
                stream = self._log_frames(container_id, follow=False, tail=lines)
            except docker.errors.APIError as error:
                if _gone(error):
                    return []
                raise
            try:
                found = [line for frame in stream for line in assembled.feed(frame)]
            finally:
                stream.close()
        found += assembled.finish()
        return found[-lines:]

    def _log_frames(
        self,
        container_id: str,
        *,
        follow: bool,
        tail: int | None = None,
        since: float | None = None,
    ) -> Any:
        """The logs (from ``since``, in seconds since the epoch) as a closable stream of
        entries, each ``b"<RFC 3339 time> <text>"``."""
        return self._transport.api.logs(
            container_id,
            stdout=True,
            stderr=True,
            stream=True,
            follow=follow,
            timestamps=True,
            tail="all" if tail is None else tail,
            since=since,
        )


def _current_run_start(attrs: Mapping[str, Any]) -> float | None:
    """Where a running container's current run begins in its logs: the end of the run
    before (a restart keeps the log). None, meaning from the first start, if it is not
    running or never stopped."""
    state = attrs.get("State") or {}
    finished = state.get("FinishedAt")
    if not state.get("Running") or not finished or finished == NEVER_STARTED:
        return None
    try:
        return datetime.fromisoformat(finished).timestamp()
    except ValueError:
        return None


def _gone(error: docker.errors.APIError) -> bool:
    """Whether the engine refused because the container is gone or being removed (its logs
    then answer 409 "can not get logs from container which is dead or marked for removal")."""
    return isinstance(error, docker.errors.NotFound) or (
        error.status_code == 409 and "marked for removal" in engine_said(error)
    )


class _LogLines:
    """Assembles the logs API's entries into lines.

    Each entry is one frame, ``b"<time> <text>"``. Text ending in a newline ends a line;
    text without one is part of a longer line: the engine cuts lines at 16 KiB (the pieces
    keep the time of the first) and logs what a stopping container left unfinished. stdout
    and stderr entries interleave, even between the pieces of one line, so unfinished lines
    are kept apart by their time.
    """

    def __init__(self) -> None:
        self._pending: dict[bytes, bytes] = {}
        self._recent: deque[bytes] = deque(maxlen=4 * _LATE_ENTRIES)

    def feed(self, frame: bytes) -> Iterator[str]:
        self._recent.append(frame)
        stamp, _, text = frame.partition(b" ")
        if text.endswith(b"\n"):
            yield _decode(self._pending.pop(stamp, b"") + text[:-1])
        else:
            self._pending[stamp] = self._pending.get(stamp, b"") + text

    def seen(self, frame: bytes) -> bool:
        """Whether ``frame`` was among the last entries fed (times make entries unique)."""
        return frame in self._recent

    def finish(self) -> list[str]:
        """The unfinished lines, once no more entries will come."""
        rest = [_decode(text) for text in self._pending.values()]
        self._pending.clear()
        return rest


def _decode(line: bytes) -> str:
    return line.decode("utf-8", errors="replace").removesuffix("\r")
