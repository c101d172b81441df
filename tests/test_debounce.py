"""devd.debounce: batches close after a quiet period, capped by ``longest``; clock-free.

Every call takes ``now`` as a plain float, so these tests drive a fake clock by hand.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devd.core.debounce import Closed, Debouncer


def test_batch_closes_only_after_quiet_seconds_without_activity() -> None:
    """A batch is not due before ``quiet`` seconds have passed since the last add; it is at
    exactly ``quiet`` seconds."""
    debouncer = Debouncer(quiet=0.5)
    debouncer.add(["app/main.py"], now=10.0)
    assert debouncer.due(10.0) is None
    assert debouncer.due(10.25) is None
    assert debouncer.due(10.5) == Closed(frozenset({"app/main.py"}), first_seen=10.0)


def test_repeated_saves_of_one_path_keep_the_batch_open() -> None:
    """Activity, not new paths, counts: re-adding the same path pushes the deadline back."""
    debouncer = Debouncer(quiet=1.0)
    for now in (0.0, 0.75, 1.5, 2.25, 3.0):
        assert debouncer.due(now) is None
        debouncer.add(["app/main.py"], now=now)
    assert debouncer.due(3.75) is None
    closed = debouncer.due(4.0)
    assert closed == Closed(frozenset({"app/main.py"}), first_seen=0.0)


def test_longest_caps_a_storm() -> None:
    """A storm of changes that never goes quiet still closes ``longest`` seconds after its
    first change, with every path so far."""
    debouncer = Debouncer(quiet=1.0, longest=5.0)
    now = 0.0
    while now < 5.0:
        debouncer.add([f"f{now}"], now=now)
        now += 0.5
        if now < 5.0:
            assert debouncer.due(now) is None
    closed = debouncer.due(5.0)
    assert closed is not None
    assert closed.first_seen == 0.0
    assert closed.paths == frozenset(f"f{t / 2}" for t in range(10))


def test_wait_is_none_when_nothing_is_pending() -> None:
    """``wait`` returns None for a fresh debouncer and again once the batch was handed over."""
    debouncer = Debouncer(quiet=1.0)
    assert debouncer.wait(0.0) is None
    debouncer.add(["a"], now=0.0)
    assert debouncer.due(1.0) is not None
    assert debouncer.wait(1.0) is None
    assert debouncer.wait(100.0) is None


def test_wait_gives_the_exact_remaining_time() -> None:
    """``wait`` is the time to the earlier of quiet deadline and ``longest`` cap, never below 0."""
    debouncer = Debouncer(quiet=2.0, longest=5.0)
    debouncer.add(["a"], now=1.0)
    assert debouncer.wait(1.0) == 2.0
    assert debouncer.wait(2.5) == 0.5
    debouncer.add(["b"], now=4.0)
    assert debouncer.wait(4.0) == 2.0  # quiet deadline 6.0, cap 6.0
    debouncer.add(["c"], now=5.0)
    assert debouncer.wait(5.0) == 1.0  # quiet deadline 7.0, but the cap is 6.0
    assert debouncer.wait(6.0) == 0.0
    assert debouncer.wait(9.0) == 0.0


def test_empty_add_does_not_open_a_batch() -> None:
    """Adding no paths records no activity: nothing pending, and an open batch's deadline
    does not move."""
    debouncer = Debouncer(quiet=1.0)
    debouncer.add([], now=0.0)
    assert debouncer.wait(0.0) is None
    assert debouncer.due(10.0) is None

    debouncer.add(["a"], now=1.0)
    debouncer.add([], now=1.5)
    assert debouncer.wait(1.5) == 0.5
    assert debouncer.due(2.0) == Closed(frozenset({"a"}), first_seen=1.0)


def test_first_seen_is_the_first_adds_time() -> None:
    """``first_seen`` is when the batch's first change arrived, not its last."""
    debouncer = Debouncer(quiet=1.0)
    debouncer.add(["a"], now=3.0)
    debouncer.add(["b"], now=3.5)
    debouncer.add(["a", "c"], now=3.75)
    closed = debouncer.due(4.75)
    assert closed == Closed(frozenset({"a", "b", "c"}), first_seen=3.0)


def test_debouncer_is_empty_after_due_hands_a_batch_over() -> None:
    """After ``due`` returns a batch nothing is pending, and the next add starts a fresh batch
    with its own first_seen and only its own paths."""
    debouncer = Debouncer(quiet=1.0)
    debouncer.add(["a"], now=0.0)
    assert debouncer.due(1.0) is not None
    assert debouncer.due(1.0) is None
    assert debouncer.due(50.0) is None
    assert debouncer.wait(50.0) is None
    debouncer.add(["b"], now=60.0)
    assert debouncer.due(61.0) == Closed(frozenset({"b"}), first_seen=60.0)


# Times are whole numbers (as floats), so deadline arithmetic is exact and the model below
# can state the closing rule with the same comparisons the debouncer makes.
_steps = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=6),  # time since the previous step
        st.frozensets(st.sampled_from(["a", "b", "c", "d", "e"]), max_size=3),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    steps=_steps,
    quiet=st.integers(min_value=1, max_value=5),
    extra=st.integers(min_value=0, max_value=15),
)
def test_property_nothing_lost_ordered_and_never_early(
    steps: list[tuple[int, frozenset[str]]], quiet: int, extra: int
) -> None:
    """For any sequence of (time step, paths): each add is handed over in exactly the batch
    that was open when it arrived (nothing lost, nothing duplicated into another batch);
    batches come out in time order; a batch closes only once ``quiet`` seconds passed since its
    last add or ``longest`` since its first; and a poll at or after that point does close it."""
    longest = float(quiet + extra)
    debouncer = Debouncer(quiet=float(quiet), longest=longest)
    batches: list[tuple[float, Closed]] = []  # (time handed over, batch)
    expected: list[set[str]] = [set()]  # paths added into each batch, by batch number
    first: float | None = None
    last: float | None = None

    def poll(now: float) -> None:
        nonlocal first, last
        ready = (
            first is not None
            and last is not None
            and (last + quiet <= now or first + longest <= now)
        )
        closed = debouncer.due(now)
        assert (closed is not None) == ready
        if closed is not None:
            assert closed.first_seen == first
            batches.append((now, closed))
            expected.append(set())
            first = last = None

    now = 0.0
    for step, paths in steps:
        now += step
        poll(now)
        debouncer.add(paths, now)
        if paths:
            expected[-1] |= paths
            first = now if first is None else first
            last = now
    now += longest + 1
    poll(now)
    assert debouncer.wait(now) is None

    assert [set(closed.paths) for _, closed in batches] == expected[:-1]
    assert expected[-1] == set()
    assert all(closed.paths for _, closed in batches)
    handed_at = [at for at, _ in batches]
    firsts = [closed.first_seen for _, closed in batches]
    assert handed_at == sorted(handed_at)
    assert firsts == sorted(firsts)
    for (at, _), next_first in zip(batches, firsts[1:], strict=False):
        assert at <= next_first


def test_a_batch_settles_after_the_short_settle_and_stays_open() -> None:
    """``settled`` shows the open batch once it has been quiet for ``settle``; the batch is
    still handed over whole by ``due`` after ``quiet``."""
    debouncer = Debouncer(quiet=0.05)
    assert debouncer.settle_wait(0.0, 0.003) is None
    debouncer.add(["app/main.py"], now=10.0)
    assert debouncer.settled(10.002, 0.003) is None
    assert debouncer.settle_wait(10.002, 0.003) == pytest.approx(0.001)
    assert debouncer.settled(10.003, 0.003) == Closed(frozenset({"app/main.py"}), 10.0)
    debouncer.add(["app/other.py"], now=10.02)
    assert debouncer.settled(10.021, 0.003) is None
    assert debouncer.due(10.069) is None
    closed = debouncer.due(10.07)
    assert closed == Closed(frozenset({"app/main.py", "app/other.py"}), 10.0)
    assert debouncer.settled(10.1, 0.003) is None
