"""devd.scheduler: one build at a time per service, saves folded, failures owed; clock-free.

The unit tests pin ServiceSchedule's contract. The property test runs a model of one service
on a fake clock: saves go through a Debouncer, each closed batch is planned and submitted,
and whatever the schedule hands out is "run" (a rebuild or a sync) for a drawn duration with
a drawn outcome, while the container may exit at drawn times. Times are whole numbers (as
floats), so every comparison is exact.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devd.config import CodeAction
from devd.core.classify import Classification, Kind
from devd.core.debounce import Debouncer
from devd.core.plan import Action, Work, manual, plan
from devd.core.scheduler import ServiceSchedule

CODE_ACTIONS: tuple[CodeAction, ...] = ("rebuild", "sync-restart", "sync")

# The model's tree: path -> (kind, where it lands in the running container).
FILES: dict[str, tuple[Kind, str | None]] = {
    "app/main.py": (Kind.CODE, "/srv/app/main.py"),
    "app/views.py": (Kind.CODE, "/srv/app/views.py"),
    "lib/util.py": (Kind.CODE, None),  # code a sync cannot place: forces a rebuild
    "requirements.txt": (Kind.DEPENDENCY, None),
    "Dockerfile": (Kind.DOCKERFILE, None),
    "README.md": (Kind.IGNORED, None),  # relevant to another service only
}
RELEVANT = [path for path, (kind, _) in FILES.items() if kind is not Kind.IGNORED]


def change(path: str) -> Classification:
    """``path`` classified for service ``app`` as the model's tree says."""
    kind, destination = FILES[path]
    return Classification(path, "app", kind, f"test: {kind}", destination=destination)


def work(*paths: str, code_action: CodeAction = "sync", generation: int = 0) -> Work:
    """The work a batch of ``paths`` calls for, stamped with ``generation``."""
    planned = plan([change(p) for p in paths], code_action, False, now=0.0)
    return replace(planned, generation=generation)


# -- unit tests ---------------------------------------------------------------------------


def test_submit_when_idle_starts_the_work_at_once() -> None:
    """An idle schedule hands submitted work straight back to be started and becomes busy
    with it; nothing is pending."""
    schedule = ServiceSchedule()
    assert not schedule.busy
    assert schedule.running is None
    code = work("app/main.py")
    assert schedule.submit(code) is code
    assert schedule.busy
    assert schedule.running is code
    assert schedule.pending == Work()


def test_submits_while_busy_fold_into_one_pending_follow_up() -> None:
    """Work submitted during a build is not started: every piece is folded into one pending
    follow-up, which ``finished`` hands out once, and then the schedule is idle."""
    schedule = ServiceSchedule()
    first = work("app/main.py", generation=1)
    schedule.submit(first)
    assert schedule.submit(work("app/main.py", generation=2)) is None
    assert schedule.submit(work("requirements.txt", generation=3)) is None
    assert schedule.submit(work("app/main.py", generation=4)) is None
    assert schedule.running is first
    follow_up = schedule.finished(ok=True)
    assert follow_up is not None
    assert follow_up.action is Action.REBUILD
    assert set(follow_up.changes) == {"app/main.py", "requirements.txt"}
    assert follow_up.generation == 4
    assert schedule.running is follow_up
    assert schedule.pending == Work()
    assert schedule.finished(ok=True) is None
    assert not schedule.busy


def test_empty_work_starts_nothing() -> None:
    """Submitting the empty ``Work()`` (all changes ignored) leaves an idle schedule idle and
    a busy one's pending work as it was."""
    schedule = ServiceSchedule()
    assert schedule.submit(Work()) is None
    assert not schedule.busy
    schedule.submit(work("app/main.py"))
    assert schedule.submit(Work()) is None
    assert schedule.pending == Work()
    assert schedule.finished(ok=True) is None


def test_finished_without_running_work_is_an_error() -> None:
    """``finished`` on an idle schedule is a caller's bug and says so."""
    with pytest.raises(RuntimeError, match="no work is running"):
        ServiceSchedule().finished(ok=True)


def test_failure_with_newer_saves_folds_the_failed_work_into_the_follow_up() -> None:
    """A failed sync of one file followed by a pending sync of another syncs both; a failed
    rebuild followed by pending code changes rebuilds (a sync would skip the failed change)."""
    schedule = ServiceSchedule()
    schedule.submit(work("app/main.py", generation=1))
    schedule.submit(work("app/views.py", generation=2))
    follow_up = schedule.finished(ok=False)
    assert follow_up is not None
    assert follow_up.action is Action.SYNC
    assert set(follow_up.changes) == {"app/main.py", "app/views.py"}
    assert follow_up.generation == 2
    assert schedule.failed is None

    schedule = ServiceSchedule()
    schedule.submit(work("requirements.txt", generation=1))
    schedule.submit(work("app/main.py", generation=2))
    follow_up = schedule.finished(ok=False)
    assert follow_up is not None
    assert follow_up.action is Action.REBUILD
    assert follow_up.kind is Kind.DEPENDENCY
    assert follow_up.generation == 2


def test_failure_of_the_newest_work_is_kept_not_retried() -> None:
    """With nothing pending a failure leaves the schedule idle (no retry, no build) and owes
    the failed work to the next submit: a code save after a failed dependency rebuild
    rebuilds; once that succeeds nothing is owed any more."""
    schedule = ServiceSchedule()
    dependency = work("requirements.txt", generation=1)
    schedule.submit(dependency)
    assert schedule.finished(ok=False) is None
    assert not schedule.busy
    assert schedule.failed is dependency
    assert schedule.submit(Work()) is None
    assert not schedule.busy

    started = schedule.submit(work("app/main.py", generation=2))
    assert started is not None
    assert started.action is Action.REBUILD
    assert set(started.changes) == {"requirements.txt", "app/main.py"}
    assert schedule.failed is None
    assert schedule.finished(ok=True) is None
    code = work("app/main.py", generation=3)
    assert schedule.submit(code) is code


def test_a_failed_retry_is_owed_again() -> None:
    """Failed work folded into the next attempt is owed again if that attempt fails too."""
    schedule = ServiceSchedule()
    schedule.submit(manual(no_cache=False, label="start"))
    schedule.finished(ok=False)
    retry = schedule.submit(work("app/main.py", generation=1))
    assert retry is not None
    assert retry.label == "start"
    schedule.finished(ok=False)
    assert schedule.failed is retry


def test_merge_keeps_the_newest_generation() -> None:
    """``Work.merge`` keeps the larger generation from either side; the default is 0, so
    work from callers that do not count saves merges as before."""
    old, new = work("app/main.py", generation=3), work("lib/util.py", generation=7)
    assert old.merge(new).generation == 7
    assert new.merge(old).generation == 7
    assert Work().merge(old).generation == 3
    assert manual(no_cache=False).generation == 0
    assert Work().generation == 0


# -- the model ----------------------------------------------------------------------------

State = dict[str, int]  # relevant path -> generation of the save whose content it holds


@dataclass
class Attempt:
    """One build or sync the model ran: what it was for, what it would leave, how it ended."""

    work: Work
    how: str  # "rebuild" or "sync"
    target: State  # the container's content had it succeeded
    ends: float
    ok: bool
    batches_before: int  # non-empty batches submitted before it started


class Model:
    """One service: a tree on disk, a debouncer, the schedule, a container, a fake clock."""

    def __init__(
        self, quiet: float, longest: float, code_action: CodeAction, data: st.DataObject
    ) -> None:
        self.debouncer = Debouncer(quiet, longest)
        self.schedule = ServiceSchedule()
        self.code_action = code_action
        self.data = data
        self.disk: State = dict.fromkeys(FILES, 0)
        self.history: list[State] = [dict(self.disk)]  # the tree after each save, by generation
        self.saves = 0  # the save counter: each save's generation
        self.last_relevant = 0  # generation of the newest save that matters to the service
        self.open_generation = 0  # newest relevant save in the debouncer's open batch
        self.container: State | None = None
        self.container_running = False
        self.current: Attempt | None = None
        self.attempts: list[Attempt] = []
        self.failures: list[int] = []  # generations of the reported failures
        self.closed = 0  # batches the debouncer closed
        self.submitted = 0  # ...whose work was not empty

    def submit(self, work: Work, now: float) -> None:
        self.start(self.schedule.submit(work), now)

    def start(self, work: Work | None, now: float) -> None:
        if work is None:
            return
        assert self.current is None, "(a) a second build started while one runs"
        assert self.schedule.running is work
        assert len(self.attempts) < self.submitted + 1, "(c) more attempts than batches"
        if self.attempts:
            assert self.attempts[-1].batches_before < self.submitted, "(c) a build of no batch"
        syncing = work.action in (Action.SYNC, Action.SYNC_RESTART)
        if syncing and self.container is not None and self.container_running:
            # the daemon's _sync: the changed files, read from disk now
            target = {**self.container, **{p: self.disk[p] for p in work.changes}}
            how = "sync"
        else:  # a build reads the whole context from disk when it starts
            target = {p: self.disk[p] for p in RELEVANT}
            how = "rebuild"
        # (b) at every step: the attempt covers every save up to its generation
        covered = self.history[work.generation]
        assert all(target[p] >= covered[p] for p in RELEVANT), "(b) a save was dropped"
        duration = self.data.draw(st.integers(min_value=0, max_value=8), label="duration")
        ok = self.data.draw(st.booleans(), label="succeeds")
        self.current = Attempt(work, how, target, now + duration, ok, self.submitted)
        self.attempts.append(self.current)

    def finish(self, now: float) -> None:
        attempt = self.current
        assert attempt is not None
        self.current = None
        if attempt.ok:
            self.container = attempt.target
            self.container_running = True  # a new container, or a synced/restarted one
        else:
            self.failures.append(attempt.work.generation)  # the previous container stays
        self.start(self.schedule.finished(attempt.ok), now)

    def save(self, path: str, now: float) -> None:
        self.saves += 1
        self.disk[path] = self.saves
        self.history.append(dict(self.disk))
        if FILES[path][0] is not Kind.IGNORED:
            self.last_relevant = self.open_generation = self.saves
        self.debouncer.add([path], now)

    def container_exits(self) -> None:
        before = (self.schedule.running, self.schedule.pending, len(self.attempts))
        self.container_running = False
        after = (self.schedule.running, self.schedule.pending, len(self.attempts))
        assert before == after, "a container exit caused a build"

    def poll(self, now: float) -> None:
        closed = self.debouncer.due(now)
        if closed is None:
            return
        self.closed += 1
        changes = [change(path) for path in sorted(closed.paths)]
        planned = plan(changes, self.code_action, False, now=closed.first_seen)
        generation, self.open_generation = self.open_generation, 0
        if planned.empty:
            return
        self.submitted += 1
        self.submit(replace(planned, generation=generation), now)

    def next_time(self, now: float, saves: list[tuple[float, str]], exits: list[float]) -> float:
        times = [t for t, _ in saves[:1]] + exits[:1]
        if self.current is not None:
            times.append(self.current.ends)
        wait = self.debouncer.wait(now)
        if wait is not None:
            times.append(now + wait)
        return min(times, default=-1.0)


_saves = st.lists(
    st.tuples(st.integers(min_value=0, max_value=6), st.sampled_from(list(FILES))),
    max_size=25,
)


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(
    saves=_saves,
    exits=st.lists(st.integers(min_value=0, max_value=80), max_size=3),
    quiet=st.integers(min_value=1, max_value=4),
    extra=st.integers(min_value=0, max_value=10),
    code_action=st.sampled_from(CODE_ACTIONS),
    data=st.data(),
)
def test_property_builds_converge_on_the_last_save(
    saves: list[tuple[int, str]],
    exits: list[int],
    quiet: int,
    extra: int,
    code_action: CodeAction,
    data: st.DataObject,
) -> None:
    """For any interleaving of saves (gaps, paths, kinds), build/sync durations, failures and
    container exits, with a start-up build at 0:
    (a) at most one build or sync runs at a time, and the schedule is idle exactly when none
    does, with nothing left pending;
    (b) no save is lost: the last attempt is of the last relevant save's generation and aimed
    at exactly the saved tree; the container holds that tree if it succeeded, else its
    failure was reported; a failure of an older generation is always followed by an attempt
    at a newer one; attempts never go back to an older generation;
    (c) attempts <= non-empty batches + 1 <= batches the debouncer closed + 1, and more
    sharply each attempt after the start-up one has a batch of its own (no queue of builds);
    and a container exit starts nothing by itself."""
    model = Model(float(quiet), float(quiet + extra), code_action, data)
    timeline: list[tuple[float, str]] = []
    now = 0.0
    for gap, path in saves:
        now += gap
        timeline.append((now, path))
    exit_times = sorted(float(t) for t in exits)

    now = 0.0
    model.submit(manual(no_cache=False, now=now, label="start"), now)
    while (at := model.next_time(now, timeline, exit_times)) >= 0:
        assert at >= now
        now = at
        if model.current is not None and model.current.ends <= now:
            model.finish(now)
        while timeline and timeline[0][0] <= now:
            model.save(timeline.pop(0)[1], now)
        while exit_times and exit_times[0] <= now:
            exit_times.pop(0)
            model.container_exits()
        model.poll(now)
        # (a), checked at every step
        assert model.schedule.busy is (model.current is not None)
        if not model.schedule.busy:
            assert model.schedule.pending == Work()

    # everything has settled
    assert model.debouncer.wait(now) is None
    assert model.current is None
    assert not model.schedule.busy
    assert model.schedule.pending == Work()

    # (b)
    final = {path: model.disk[path] for path in RELEVANT}
    last = model.attempts[-1]
    assert last.work.generation == model.last_relevant
    assert last.target == final
    if last.ok:
        assert model.container == final
    else:
        assert model.failures[-1] == model.last_relevant
    generations = [attempt.work.generation for attempt in model.attempts]
    assert generations == sorted(generations)
    for index, attempt in enumerate(model.attempts):
        if not attempt.ok and attempt.work.generation < model.last_relevant:
            later = model.attempts[index + 1 :]
            assert any(a.work.generation > attempt.work.generation for a in later)

    # (c)
    assert len(model.attempts) <= model.submitted + 1 <= model.closed + 1
    batches_before = [attempt.batches_before for attempt in model.attempts]
    assert all(a < b for a, b in pairwise(batches_before))


def test_failed_work_folded_in_keeps_the_time_of_the_save_it_serves() -> None:
    """A start that failed at t=0 is folded into the save made at t=30 (its changes come
    along), but that attempt's save->running counts from t=30, the save it serves: not
    from the failed start. A save during a running attempt that then fails is timed from
    that save too."""
    schedule = ServiceSchedule()
    schedule.submit(manual(no_cache=False, now=0.0, label="start"))
    schedule.finished(ok=False)
    save = replace(work("app/main.py", generation=1), first_seen=30.0)
    started = schedule.submit(save)
    assert started is not None
    assert started.label == "start"  # the failed work came along
    assert started.first_seen == 30.0

    schedule.submit(replace(work("app/views.py", generation=2), first_seen=45.0))
    follow_up = schedule.finished(ok=False)
    assert follow_up is not None
    assert set(follow_up.changes) == {"app/main.py", "app/views.py"}
    assert follow_up.first_seen == 45.0
