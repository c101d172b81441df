"""Scheduling one service's work: one build at a time, later saves folded into one follow-up.

A service is idle or running one piece of work (a build or a sync). Work submitted while it
runs is folded (:meth:`devd.core.plan.Work.merge`) into a single pending follow-up, started as soon
as the running work finishes, so however many saves arrive during a build, exactly one more
build follows and it covers all of them.

Work whose attempt failed is not forgotten: it is folded into the next work started (at once
when saves arrived meanwhile, else with the next save), so a failed Dockerfile or dependency
rebuild followed by a code save rebuilds rather than syncs into an image that never got the
change. A failure is never retried on its own: with nothing newer saved it stays reported.
The work it is folded into keeps that work's time of first save: save->running counts from
the save the attempt serves, not from the attempt that failed (a failed start, minutes ago).

Pure: no threads, no clock, no I/O. The daemon calls it under the service's lock; a model
drives it directly (tests/test_scheduler.py).
"""

from __future__ import annotations

from dataclasses import replace

from devd.core.plan import Work


class ServiceSchedule:
    """One service's running work, pending follow-up and unapplied failed work."""

    def __init__(self) -> None:
        self._running: Work | None = None
        self._pending = Work()
        self._failed: Work | None = None

    @property
    def busy(self) -> bool:
        """Whether a piece of work has been started and has not finished."""
        return self._running is not None

    @property
    def running(self) -> Work | None:
        """The work started and not finished yet (``None`` when idle)."""
        return self._running

    @property
    def pending(self) -> Work:
        """Everything submitted while busy, folded into one (``Work()`` when nothing is)."""
        return self._pending

    @property
    def failed(self) -> Work | None:
        """Work whose attempt failed and that no later attempt has taken up yet."""
        return self._failed

    def submit(self, work: Work) -> Work | None:
        """Take ``work``: the work to start now when idle (with failed work folded in first),
        or ``None`` when it was folded into the pending follow-up or is empty."""
        if self._running is not None:
            self._pending = self._pending.merge(work)
            return None
        if work.empty:
            return None
        if self._failed is not None:  # its saves come along, but the clock starts anew:
            owed, self._failed = self._failed.merge(work), None  # save->running is from the
            work = replace(owed, first_seen=work.first_seen or owed.first_seen)  # save served
        self._running = work
        return work

    def finished(self, ok: bool) -> Work | None:
        """The running work ended (``ok``: it succeeded): the follow-up to start now, or
        ``None`` and the schedule is idle. A failed attempt is owed to the next one."""
        done = self._running
        if done is None:
            raise RuntimeError("finished() while no work is running")
        self._running = None
        self._failed = None if ok else done
        follow_up, self._pending = self._pending, Work()
        return self.submit(follow_up)
