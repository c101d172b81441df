"""Engine-outage recovery: when the engine answers again (:mod:`devd.enginewatch` calls
:meth:`EngineRecovery.engine_back`), each service is put right before held work goes on.
"""

from __future__ import annotations

import threading
import time

from devd.core.plan import manual
from devd.daemon.follow import Following


class EngineRecovery(Following):
    """Puts each service right once the engine is back."""

    _replace_lock: threading.Lock

    def engine_back(self) -> None:
        """The engine answers again: make each service right before held work goes on.

        Work the outage made fail is done again (the schedule folds it into the new work).
        A container that ran before the outage and does not now (an engine restart stops
        containers), or a second container labelled as the service's (a replace the outage
        cut short), has the service's container replaced, after a cached rebuild: replacing
        removes every container labelled as the service's, so there is exactly one. Work
        that failed for reasons of its own (a broken build) still waits for the next save. A
        container that runs (live-restore) gets its output followed again, unless its
        follower still reads it (the engine froze rather than stopped); one that had exited
        by itself before stays as it was. Raises EngineUnavailable if the engine goes
        again meanwhile (the watch then waits again).
        """
        for runtime in list(self.services.values()):
            with self._replace_lock:
                known = runtime.container
                found = self.engine.containers.of_project(self.project.name, runtime.config.name)
                current = next((c for c in found if known and c.id == known.id), None)
                runtime.container = current
            ran = known is not None and known.status == "running"
            runs = current is not None and current.status == "running"
            strays = len(found) > (current is not None)  # a replace the outage cut short
            with runtime.cond:  # a frozen engine's stream goes on: no second follower
                followed = current is not None and runtime.following[current.id] > 0
            if runs and current is not None and not followed:
                self._follow_once(runtime, current, again=True)
            with runtime.cond:
                idle = not runtime.schedule.busy  # else its work, about to go on, does it
                owed = runtime.outage_failed and runtime.schedule.failed is not None
            if idle and (owed or (ran and not runs) or strays):
                work = manual(False, time.monotonic(), label="engine back", recreate=strays)
                self._submit(runtime, work)
