"""Following a container's output: its lines printed with the service's prefix until the
stream ends, then the service's controller told, which judges the end
(:meth:`devd.daemon.controller.ServiceController.on_exit`): a container that stops without
devd stopping it is reported with its exit code and last lines (not restarted; a one-shot
dependency that exits 0 has completed); one removed by hand is said in one line. An anchor
stopped by hand (:mod:`devd.daemon.anchorwatch` hears of it) is said in one line too; the
next save, or ``devd rebuild``, puts the service right.

A follower is an object of its own, so a controller tells the follower of a container's
current run from one still reading a run that devd has stopped or restarted since (the
engine can end that stream late).
"""

from __future__ import annotations

import threading
from typing import Protocol

from devd.daemon.ports import LogClient, Reporter
from devd.engine.container_spec import ContainerInfo
from devd.engine.transport import short_id
from devd.errors import DevdError

EXITED = "container exited; not restarting it (save a change to rebuild)"
REMOVED = "container removed; not recreating it (save a change to put it right)"
ANCHOR_STOPPED = "anchor stopped; the service is unreachable until a save or devd rebuild"


def say_exit(
    out: Reporter,
    logs: LogClient,
    service: str,
    info: ContainerInfo,
    exit_code: int | None,
    gone: bool,
    one_shot: bool,
) -> None:
    """The line for a container that stopped without devd stopping it: removed by hand
    (``gone``), completed (a one-shot job's exit 0), or exited, with its last lines."""
    if gone:
        out.error(REMOVED, service=service, container=short_id(info.id))
    elif exit_code == 0 and one_shot:
        out.info("completed", service=service, exit_code=0)
    else:
        last = logs.tail(info.id, 10)
        out.error(EXITED, service=service, exit_code=exit_code, last_lines=last)


class StreamEnds(Protocol):
    """Who hears how a follower's stream ended (the service's controller)."""

    def on_exit(self, follower: Follower) -> None: ...

    def on_lost(self, follower: Follower, error: DevdError) -> None: ...


class Follower:
    """Prints one run of ``container``'s output on a thread of its own."""

    def __init__(self, container: ContainerInfo, service: str) -> None:
        self.container = container
        self.service = service

    def start(self, logs: LogClient, out: Reporter, ends: StreamEnds) -> threading.Thread:
        thread = threading.Thread(
            target=self._print, args=(logs, out, ends), name=f"logs-{self.service}", daemon=True
        )
        thread.start()
        return thread

    def _print(self, logs: LogClient, out: Reporter, ends: StreamEnds) -> None:
        try:
            for line in logs.follow(self.container.id):
                out.line(self.service, line)
        except DevdError as error:
            ends.on_lost(self, error)
        else:
            ends.on_exit(self)
