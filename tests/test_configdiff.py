"""devd.core.configdiff: a reload touches exactly what changed (pinned exhaustively with
generated configurations, no engine, no files)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from devd.core.configdiff import ConfigDiff, diff

NAMES = st.sampled_from(["app", "web", "db", "worker", "cache"])
CONFIGS = st.dictionaries(NAMES, st.integers(0, 2), max_size=5)


@given(CONFIGS, CONFIGS, st.booleans())
def test_every_service_is_in_exactly_the_part_its_change_puts_it(
    old: dict[str, int], new: dict[str, int], ignore_changed: bool
) -> None:
    """Gone: removed; new: added; kept with other settings: changed and recreated; kept with
    the same settings: changed (not recreated) only when the ignore rules changed."""
    result = diff(old, new, ignore_changed)
    for name in set(old) | set(new):
        if name not in new:
            assert name in result.removed
            assert name not in result.changed + result.added
        elif name not in old:
            assert name in result.added
            assert name not in result.changed + result.removed
        elif old[name] != new[name]:
            assert name in result.changed
            assert name in result.recreate
        else:
            assert (name in result.changed) is ignore_changed
            assert name not in result.recreate
    assert result.recreate <= set(result.changed)
    assert result.empty == (not (result.removed or result.added or result.changed))


@given(CONFIGS, CONFIGS, st.booleans())
def test_the_parts_keep_the_configurations_order(
    old: dict[str, int], new: dict[str, int], ignore_changed: bool
) -> None:
    """Removed services come in the old configuration's order, added and changed ones in the
    new one's (the order services are started in)."""
    result = diff(old, new, ignore_changed)
    assert list(result.removed) == [n for n in old if n in result.removed]
    assert list(result.added) == [n for n in new if n in result.added]
    assert list(result.changed) == [n for n in new if n in result.changed]


@given(CONFIGS, st.booleans())
def test_the_same_configuration_touches_nothing(config: dict[str, int], ignore: bool) -> None:
    """Saving the configuration unchanged reloads nothing; a changed ignore file alone
    reconfigures every service and recreates none."""
    result = diff(config, dict(config), ignore)
    assert result.empty is (not ignore or not config)
    assert result.recreate == frozenset()


def test_a_small_reload() -> None:
    """One of each, spelled out."""
    old = {"app": 1, "web": 1, "db": 1}
    new = {"app": 2, "db": 1, "cache": 1}
    assert diff(old, new) == ConfigDiff(("web",), ("cache",), ("app",), frozenset({"app"}))
