"""The API's channels over devd's ssh connection (:mod:`devd.engine.ssh`), bounded so that a
stock sshd (``MaxSessions 10``) never refuses one.

Each API connection is an SSH *session* channel running ``docker system dial-stdio`` on the
engine's host. What devd opens at once:

* one channel per request in flight: each service's worker, the engine watch, the sweeper,
  a CLI command's requests;
* one per followed log stream (a service each) and one for the event stream (the anchors'
  ``die`` events), held as long as ``devd up`` runs;
* one per build and per exec, held while its output streams;
* one, kept apart, for :meth:`devd.engine.ssh.SshLink.fresh_ping`.

docker-py's own adapter keeps a pool per request URL and, once a pool's connections are all
busy, opens more without bound: that is what sshd refused ("ChannelException(2, 'Connect
failed')"). Here one pool serves every request, and a channel is opened only with one of
:data:`API_CHANNELS` (8) slots, given back when the channel closes, or when the connection
holding it is garbage collected: docker-py drops some responses unread (``logs()`` of a
container removed meanwhile), and their channels must not be lost for good. A request that
finds every slot taken closes an idle pooled channel if there is one, else waits. Long-lived
streams (followed logs, events) may hold at most :data:`STREAM_CHANNELS` (5) of them, so
requests always have 3; a stream past that waits, said in one line, for one to end: with more
than 4 services, the logs of the last ones start when a container of the others stops.
API_CHANNELS, the fresh ping's channel and one for a session sshd has not freed yet make 10.
Forwarded ports are ``direct-tcpip`` channels, which MaxSessions does not count.
"""

from __future__ import annotations

import gc
import re
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import docker.transport.basehttpadapter
import structlog
import urllib3
import urllib3.connection
import urllib3.connectionpool

if TYPE_CHECKING:
    from devd.engine.ssh import SshLink

_log = structlog.get_logger("devd")

SESSION_LIMIT = 10
"""A stock sshd's MaxSessions: session channels one connection may have open."""
API_CHANNELS = SESSION_LIMIT - 2
"""Channels the API requests may hold at once: one is kept for the fresh ping, and one for a
session sshd has not freed yet (it frees one when its command has exited, a moment after
devd closed the channel; without that margin a new channel was sometimes refused, then
asked for again)."""
STREAM_CHANNELS = 5
"""Of those, how many long-lived streams (followed logs, events) may hold."""
WAIT_SECONDS = 120.0
"""How long a request waits for a free channel before failing (every one is in use)."""
_COLLECT_AFTER = 1.0  # seconds of waiting before looking for channels dropped unclosed

_LONG_LIVED = (
    re.compile(r"^/(v[\d.]+/)?containers/[^/]+/logs\?(.*&)?follow=(1|true)\b"),
    re.compile(r"^/(v[\d.]+/)?events(\?|$)(?!.*\buntil=)"),
)


class SlotsBusy(ConnectionError):
    """Every channel devd may use stayed busy for WAIT_SECONDS (an OSError, so that it
    travels through urllib3 and requests as a failed connection does)."""


class _Hold:
    """One slot of a semaphore, given back once however many times :meth:`release` runs
    (closing, and the garbage collector's finalizer, may both)."""

    def __init__(
        self, semaphore: threading.BoundedSemaphore, released: Callable[[], None] | None = None
    ) -> None:
        self._semaphore: threading.BoundedSemaphore | None = semaphore
        self._released = released  # told after the slot is back (waiters look again)
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            semaphore, self._semaphore = self._semaphore, None
        if semaphore is not None:
            semaphore.release()
            if self._released is not None:
                self._released()


class _ChannelSocket:
    """A session channel as http.client's socket, holding its slot until it is closed or
    collected. Its file (``makefile``) also offers ``raw.sock``, the path docker-py's
    CancellableStream.close takes to end a stream from another thread: for a bare paramiko
    channel it refuses ("Cancellable streams not supported for the SSH protocol"), which
    left devd's log and event streams unclosable. Closing the channel wakes the thread
    reading it, which then sees the stream end."""

    def __init__(self, channel: Any, hold: _Hold) -> None:
        self.channel = channel
        self._hold = hold
        weakref.finalize(self, hold.release)

    def makefile(self, mode: str) -> Any:
        file = self.channel.makefile(mode)
        file.raw = _RawEnd(self)
        return file

    def shutdown(self, how: int) -> None:
        self.channel.shutdown(how)

    def close(self) -> None:
        self.channel.close()
        self._hold.release()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.channel, name)


@dataclass(frozen=True)
class _RawEnd:
    sock: _ChannelSocket


class _ChannelConnection(urllib3.connection.HTTPConnection):
    """An HTTP connection whose socket is a session channel running dial-stdio."""

    def __init__(self, pool: _ChannelPool, timeout: float, hold: _Hold | None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.channel_pool = pool
        self.slot_hold = hold  # the slot its first channel takes (None: take one then)
        self.stream_hold: _Hold | None = None

    def connect(self) -> None:
        hold, self.slot_hold = self.slot_hold, None
        hold = hold or self.channel_pool.take_slot()
        try:
            channel = self.channel_pool.link.session()
        except BaseException:
            hold.release()
            raise
        self.sock = _ChannelSocket(channel, hold)

    def close(self) -> None:
        super().close()
        self.release_stream()

    def release_stream(self) -> None:
        hold, self.stream_hold = self.stream_hold, None
        if hold is not None:
            hold.release()


class _ChannelPool(urllib3.connectionpool.HTTPConnectionPool):
    """The one pool of API channels (see the module). Its queue holds idle connections
    only; a request takes an idle one, else a free slot for a new one, else waits for
    either (a connection put back, a channel closed or collected)."""

    scheme = "ssh"

    def __init__(self, link: SshLink, timeout: float) -> None:
        # The queue may hold more than API_CHANNELS: connections without a channel cost
        # nothing, and urllib3 would log each one it had to discard.
        super().__init__("localhost", timeout=timeout, maxsize=4 * API_CHANNELS, block=False)
        self.link = link
        self.slots = threading.BoundedSemaphore(API_CHANNELS)
        self.streams = threading.BoundedSemaphore(STREAM_CHANNELS)
        self._changed = threading.Condition()  # a connection or a slot came back
        self._request = threading.local()  # a stream's slot, between urlopen and _get_conn

    def _new_conn(self, hold: _Hold | None = None) -> _ChannelConnection:
        timeout = self.timeout.read_timeout
        seconds = float(timeout) if isinstance(timeout, float | int) else 60.0
        return _ChannelConnection(self, seconds, hold)

    def _came_back(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def take_slot(self) -> _Hold:
        """A slot for a connection that opens its channel again (its first channel's slot
        came with it from :meth:`_get_conn`), closing an idle connection to make room."""

        def attempt() -> _Hold | None:
            hold = self._free_slot()
            if hold is None and (idle := self._idle()) is not None:
                idle.close()
                hold = self._free_slot()
            return hold

        hold: _Hold = self._wait(attempt)
        return hold

    def _idle(self) -> Any:
        """An idle pooled connection whose channel is open (dead ones closed); None if none."""
        while self.pool is not None:
            try:
                conn = self.pool.get(block=False)
            except Exception:  # queue.Empty
                return None
            if conn is None:  # urllib3's placeholder for a connection it threw away
                continue
            if conn.sock is not None and not conn.sock.closed:
                return conn
            conn.close()
        return None

    def _free_slot(self) -> _Hold | None:
        acquired = self.slots.acquire(blocking=False)
        return _Hold(self.slots, self._came_back) if acquired else None

    def _wait(self, attempt: Callable[[], Any]) -> Any:
        """``attempt()`` until it gives something, then that; between tries, waits for a
        connection or slot to come back (SlotsBusy after WAIT_SECONDS)."""
        started = time.monotonic()
        collected = False
        while (found := attempt()) is None:  # not under the condition: attempts close things
            waited = time.monotonic() - started
            if waited > _COLLECT_AFTER and not collected:
                gc.collect()  # a response dropped unread in a reference cycle: its channel
                collected = True
                continue
            if waited > WAIT_SECONDS:
                raise SlotsBusy(
                    f"every ssh channel devd may use stayed busy for {WAIT_SECONDS:g} s "
                    f"(sshd allows {SESSION_LIMIT} per connection)"
                )
            with self._changed:
                self._changed.wait(0.05)
        return found

    def urlopen(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if not any(pattern.match(url) for pattern in _LONG_LIVED):
            return super().urlopen(method, url, *args, **kwargs)
        if not self.streams.acquire(blocking=False):  # wait for a stream to end, saying so
            _log.warning(
                "an ssh channel for a stream waits for another stream to end",
                streams=STREAM_CHANNELS,
                request=url.split("?", 1)[0],
                why=f"devd keeps {STREAM_CHANNELS} of sshd's MaxSessions {SESSION_LIMIT} "
                "for followed logs and events, so requests always get the rest",
            )
            self.streams.acquire()
        self._request.stream = hold = _Hold(self.streams)
        try:
            return super().urlopen(method, url, *args, **kwargs)
        finally:
            if self._request.__dict__.pop("stream", None) is not None:  # no connection took it
                hold.release()

    def _get_conn(self, timeout: float | None = None) -> Any:
        """An idle connection whose channel is open, else a new one with a free slot, else
        the first of either to come back. (urllib3's own check of a pooled connection
        selects on a paramiko channel's fileno(), which makes a pipe per channel: skipped.)"""
        if self.pool is None:
            raise urllib3.exceptions.ClosedPoolError(self, "Pool is closed.")

        def attempt() -> Any:
            idle = self._idle()
            if idle is not None:
                return idle
            hold = self._free_slot()
            return None if hold is None else self._new_conn(hold)

        conn = self._wait(attempt)
        stream = self._request.__dict__.pop("stream", None)
        if stream is not None:
            conn.stream_hold = stream
            weakref.finalize(conn, stream.release)
        return conn

    def _put_conn(self, conn: Any) -> None:
        if conn is not None:
            conn.release_stream()
        super()._put_conn(conn)
        self._came_back()


class SshAdapter(docker.transport.basehttpadapter.BaseHTTPAdapter):  # type: ignore[misc]
    """requests' adapter for ``http+docker://ssh``: every request through the one pool."""

    def __init__(self, link: SshLink, timeout: float) -> None:
        super().__init__()
        self.link = link
        self.pool = _ChannelPool(link, timeout)

    def get_connection(self, url: Any, proxies: Any = None) -> _ChannelPool:
        return self.pool

    def close(self) -> None:
        super().close()
        self.pool.close()
        self.link.close()
