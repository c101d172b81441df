"""devd.plan: the seed guide's table (change kind -> action) and folding pending work.

Classifications are built directly, as classify() would return them, so no Dockerfile is
needed; times are plain floats.
"""

from __future__ import annotations

from functools import reduce

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devd.config import CodeAction
from devd.core.classify import Classification, Kind
from devd.core.plan import Action, Work, action_for, manual, plan, syncable

CODE_ACTIONS: tuple[CodeAction, ...] = ("rebuild", "sync-restart", "sync")


def change(path: str, kind: Kind, destination: str | None = None) -> Classification:
    """A classification of ``path`` for service ``app``; code changes land by default."""
    if kind is Kind.CODE and destination is None:
        destination = f"/srv/{path}"
    return Classification(path, "app", kind, f"test: {kind}", destination=destination)


def code_without_destination(path: str) -> Classification:
    """A code change whose landing place in the image is unknown (e.g. a non-final stage)."""
    return Classification(path, "app", Kind.CODE, "test: code, no destination")


@pytest.mark.parametrize("code_action", CODE_ACTIONS)
def test_ignored_changes_call_for_nothing(code_action: CodeAction) -> None:
    """A batch of only ignored changes plans the empty ``Work()``, whatever ``code_action``."""
    work = plan([change("node_modules/x", Kind.IGNORED)], code_action, True, now=1.0)
    assert work == Work()
    assert work.empty
    assert work.action is Action.NOTHING
    assert plan([], code_action, False) == Work()


@pytest.mark.parametrize(
    ("code_action", "expected"),
    [
        ("rebuild", Action.REBUILD),
        ("sync-restart", Action.SYNC_RESTART),
        ("sync", Action.SYNC),
    ],
)
def test_code_change_takes_the_services_code_action(
    code_action: CodeAction, expected: Action
) -> None:
    """A code change with a destination gets the service's ``code_action``, no cache busting,
    no definition reload."""
    work = plan([change("app/main.py", Kind.CODE)], code_action, True, now=2.0)
    assert work.action is expected
    assert work.kind is Kind.CODE
    assert not work.no_cache
    assert not work.reload_definition
    assert work.first_seen == 2.0
    assert action_for(Kind.CODE, code_action) is expected


@pytest.mark.parametrize("code_action", CODE_ACTIONS)
@pytest.mark.parametrize("dockerfile_no_cache", [False, True])
def test_dependency_change_rebuilds_with_cache(
    code_action: CodeAction, dockerfile_no_cache: bool
) -> None:
    """A dependency change is a cached rebuild: no_cache stays off even when the service sets
    dockerfile_no_cache, and the definition is not re-read."""
    work = plan([change("requirements.txt", Kind.DEPENDENCY)], code_action, dockerfile_no_cache)
    assert work.action is Action.REBUILD
    assert work.kind is Kind.DEPENDENCY
    assert not work.no_cache
    assert not work.reload_definition


@pytest.mark.parametrize("code_action", CODE_ACTIONS)
@pytest.mark.parametrize("dockerfile_no_cache", [False, True])
def test_dockerfile_change_reloads_and_busts_cache_only_when_configured(
    code_action: CodeAction, dockerfile_no_cache: bool
) -> None:
    """A Dockerfile change rebuilds and re-reads the definition; no_cache follows the service's
    dockerfile_no_cache exactly."""
    work = plan([change("Dockerfile", Kind.DOCKERFILE)], code_action, dockerfile_no_cache)
    assert work.action is Action.REBUILD
    assert work.kind is Kind.DOCKERFILE
    assert work.reload_definition
    assert work.no_cache is dockerfile_no_cache
    assert not work.empty


def test_strongest_kind_of_a_batch_decides_and_ignored_paths_are_dropped() -> None:
    """A mixed batch takes its strongest kind's action; ignored paths are left out of changes;
    a path listed twice keeps its last classification."""
    batch = [
        change("app/main.py", Kind.CODE),
        change("README.md", Kind.IGNORED),
        change("requirements.txt", Kind.IGNORED),
        change("requirements.txt", Kind.DEPENDENCY),
    ]
    work = plan(batch, "sync", False, now=3.0)
    assert work.kind is Kind.DEPENDENCY
    assert work.action is Action.REBUILD
    assert set(work.changes) == {"app/main.py", "requirements.txt"}
    assert work.changes["requirements.txt"].kind is Kind.DEPENDENCY


@pytest.mark.parametrize("code_action", ["sync", "sync-restart"])
def test_sync_falls_back_to_rebuild_without_destination(code_action: CodeAction) -> None:
    """When any code change in the batch has no destination in the running container, a sync
    action becomes a rebuild (syncing only part of the batch would leave the container stale)."""
    batch = [change("app/main.py", Kind.CODE), code_without_destination("lib/util.py")]
    assert not syncable(batch)
    work = plan(batch, code_action, False)
    assert work.action is Action.REBUILD
    assert work.kind is Kind.CODE
    assert not work.no_cache


def test_syncable_when_every_change_has_a_destination() -> None:
    """``syncable`` holds when every change lands somewhere (and trivially for none)."""
    assert syncable([change("a.py", Kind.CODE), change("b.py", Kind.CODE)])
    assert syncable([])
    assert not syncable([code_without_destination("a.py")])


def test_action_for_table() -> None:
    """``action_for`` is the table: ignored -> nothing, dependency/dockerfile -> rebuild."""
    for code_action in CODE_ACTIONS:
        assert action_for(Kind.IGNORED, code_action) is Action.NOTHING
        assert action_for(Kind.DEPENDENCY, code_action) is Action.REBUILD
        assert action_for(Kind.DOCKERFILE, code_action) is Action.REBUILD


def test_merge_keeps_newest_classification_per_path() -> None:
    """Merging work A then B keeps B's classification of a path both mention, and A's paths
    that B does not mention."""
    a = plan([change("x.py", Kind.CODE), change("y.py", Kind.CODE)], "sync", False, now=1.0)
    newer = change("x.py", Kind.DEPENDENCY)
    b = plan([newer], "sync", False, now=2.0)
    merged = a.merge(b)
    assert merged.changes["x.py"] is newer
    assert merged.changes["y.py"] is a.changes["y.py"]
    assert set(merged.changes) == {"x.py", "y.py"}


def test_merge_keeps_strongest_kind_and_action_regardless_of_order() -> None:
    """The strongest kind and action win whichever side they come from."""
    sync = plan([change("x.py", Kind.CODE)], "sync", False, now=1.0)
    rebuild = plan([change("req.txt", Kind.DEPENDENCY)], "sync", False, now=2.0)
    for merged in (sync.merge(rebuild), rebuild.merge(sync)):
        assert merged.kind is Kind.DEPENDENCY
        assert merged.action is Action.REBUILD
    restart = Work(
        changes={"y.py": change("y.py", Kind.CODE)}, kind=Kind.CODE, action=Action.SYNC_RESTART
    )
    assert sync.merge(restart).action is Action.SYNC_RESTART
    assert restart.merge(sync).action is Action.SYNC_RESTART


def test_merge_ors_no_cache_and_reload_definition() -> None:
    """no_cache and reload_definition survive a merge from either side."""
    dockerfile = plan([change("Dockerfile", Kind.DOCKERFILE)], "rebuild", True, now=5.0)
    code = plan([change("x.py", Kind.CODE)], "rebuild", True, now=6.0)
    for merged in (dockerfile.merge(code), code.merge(dockerfile)):
        assert merged.no_cache
        assert merged.reload_definition
        assert merged.kind is Kind.DOCKERFILE
    assert not code.merge(code).no_cache
    assert not code.merge(code).reload_definition
    assert Work().merge(manual(no_cache=True)).no_cache


def test_merge_keeps_earliest_first_seen() -> None:
    """first_seen is the earliest of both sides, ignoring a side that has none."""
    early = plan([change("x.py", Kind.CODE)], "sync", False, now=1.0)
    late = plan([change("y.py", Kind.CODE)], "sync", False, now=4.0)
    assert early.merge(late).first_seen == 1.0
    assert late.merge(early).first_seen == 1.0
    assert Work().merge(late).first_seen == 4.0
    assert late.merge(Work()).first_seen == 4.0
    assert Work().merge(Work()).first_seen is None


def test_merge_with_empty_work_is_identity() -> None:
    """Folding the empty Work in on either side changes nothing."""
    work = plan([change("Dockerfile", Kind.DOCKERFILE)], "sync", True, now=1.0)
    assert Work().merge(work) == work
    assert work.merge(Work()) == work


_classifications = st.builds(
    Classification,
    path=st.sampled_from(["a.py", "b.py", "req.txt", "Dockerfile"]),
    service=st.just("app"),
    kind=st.sampled_from(list(Kind)),
    reason=st.just("generated"),
    destination=st.one_of(st.none(), st.just("/srv/x")),
)
_works = st.builds(
    plan,
    changes=st.lists(_classifications, max_size=4),
    code_action=st.sampled_from(CODE_ACTIONS),
    dockerfile_no_cache=st.booleans(),
    now=st.one_of(st.none(), st.floats(min_value=0, max_value=100)),
)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(works=st.lists(_works, min_size=1, max_size=6), data=st.data())
def test_property_merge_order_does_not_change_the_outcome(
    works: list[Work], data: st.DataObject
) -> None:
    """Folding many works in any order gives the same action, kind, no_cache,
    reload_definition, first_seen and set of paths."""
    shuffled = data.draw(st.permutations(works))
    one = reduce(Work.merge, works, Work())
    other = reduce(Work.merge, shuffled, Work())
    assert one.action is other.action
    assert one.kind is other.kind
    assert one.no_cache == other.no_cache
    assert one.reload_definition == other.reload_definition
    assert one.first_seen == other.first_seen
    assert set(one.changes) == set(other.changes)


def test_trigger_names_the_first_change_of_the_strongest_kind() -> None:
    """``trigger`` names a change of the work's kind, with how many other changes came along."""
    work = plan(
        [change("app/main.py", Kind.CODE), change("req.txt", Kind.DEPENDENCY)], "sync", False
    )
    assert work.trigger == "req.txt (dependency) +1 more"
    single = plan([change("app/main.py", Kind.CODE)], "sync", False)
    assert single.trigger == "app/main.py (code)"
    three = plan([change(f"f{i}.py", Kind.CODE) for i in range(3)], "sync", False)
    assert three.trigger == "f0.py (code) +2 more"


def test_trigger_of_work_without_changes_is_its_label_or_manual() -> None:
    """Work no change triggered reads as its label (``manual()``: ``rebuild``, ``rebuild
    without cache``, or the label asked for), and ``manual`` when it has none."""
    assert manual(no_cache=False).trigger == "rebuild"
    assert manual(no_cache=True).trigger == "rebuild without cache"
    assert manual(no_cache=False, label="start").trigger == "start"
    assert Work().trigger == "manual"


def test_merge_keeps_the_newest_label_and_changes_outrank_it() -> None:
    """A merge keeps the later side's label (else the earlier one's); once changes are folded
    in, the trigger names them rather than the label."""
    start = manual(no_cache=False, label="start")
    again = manual(no_cache=False)
    assert start.merge(again).trigger == "rebuild"
    assert start.merge(Work()).trigger == "start"
    assert Work().merge(start).trigger == "start"
    pending = plan([change("x.py", Kind.CODE)], "sync", False)
    assert start.merge(pending).trigger == "x.py (code)"


def test_manual_is_a_rebuild_with_the_requested_cache_setting() -> None:
    """``manual`` asks for a rebuild with no changes, no definition reload, and the given
    no_cache and time; it is never empty, and it dominates when merged with pending work."""
    plain = manual(no_cache=False, now=7.0)
    assert plain.action is Action.REBUILD
    assert not plain.no_cache
    assert not plain.reload_definition
    assert plain.first_seen == 7.0
    assert plain.changes == {}
    assert not plain.empty
    assert manual(no_cache=True).no_cache
    assert manual(no_cache=True).first_seen is None
    pending = plan([change("x.py", Kind.CODE)], "sync", False, now=3.0)
    merged = pending.merge(plain)
    assert merged.action is Action.REBUILD
    assert merged.first_seen == 3.0
    assert merged.trigger == "x.py (code)"


@pytest.mark.parametrize("code_action", CODE_ACTIONS)
def test_dependency_action_exec_asks_for_an_exec_and_a_rebuild_still_outranks_it(
    code_action: CodeAction,
) -> None:
    """With ``dependency_action = "exec"`` a dependency batch is an EXEC (the worker decides
    whether it is safe); a Dockerfile change still rebuilds; merged with a sync the exec
    stays, merged with a rebuild it is one."""
    deps = plan([change("r.txt", Kind.DEPENDENCY)], code_action, False, dependency_action="exec")
    assert deps.action is Action.EXEC
    assert action_for(Kind.DOCKERFILE, code_action, "exec") is Action.REBUILD
    assert action_for(Kind.DEPENDENCY, code_action, "rebuild") is Action.REBUILD
    sync = Work(action=Action.SYNC)
    assert sync.merge(deps).action is deps.merge(sync).action is Action.EXEC
    assert deps.merge(manual(False)).action is Action.REBUILD


def test_merge_keeps_the_newest_fallback_reason() -> None:
    older = Work(action=Action.REBUILD, fallback="older")
    assert older.merge(Work(action=Action.REBUILD, fallback="newer")).fallback == "newer"
    assert older.merge(Work()).fallback == "older"
