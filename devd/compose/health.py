"""``healthcheck`` as the engine takes it: a string test runs in a shell (``CMD-SHELL``), a
list is given as is (``CMD``/``CMD-SHELL``/``NONE`` first), ``disable: true`` is ``NONE``;
durations in compose's Go syntax (``1m30s``, ``500ms``). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devd.compose.values import Key, Warnings, boolean, check_keys, duration, integer, mapping
from devd.compose.values import string as text_value
from devd.config import Healthcheck

_SUPPORTED = frozenset({"test", "interval", "timeout", "retries", "start_period", "disable"})
_KNOWN = frozenset({"start_interval"})
_TEST = 'a command string, or a list starting with "CMD", "CMD-SHELL" or "NONE"'


def healthcheck(value: Any, key: Key, warnings: Warnings) -> Healthcheck:
    node = mapping(value, key)
    check_keys(node, key, _SUPPORTED, _KNOWN, warnings)
    if boolean(node.get("disable", False), key.child("disable")):
        return Healthcheck(("NONE",))
    defaults = Healthcheck(())
    return Healthcheck(
        test=_test(node["test"], key.child("test")) if "test" in node else (),
        interval_s=_seconds(node, "interval", key, defaults.interval_s),
        timeout_s=_seconds(node, "timeout", key, defaults.timeout_s),
        retries=integer(node.get("retries", defaults.retries), key.child("retries")),
        start_period_s=_seconds(node, "start_period", key, defaults.start_period_s),
    )


def _test(value: Any, key: Key) -> tuple[str, ...]:
    if isinstance(value, str):
        return ("CMD-SHELL", value)
    if not isinstance(value, list) or not value:
        raise key.error(_TEST, value)
    test = tuple(text_value(item, key.item(i)) for i, item in enumerate(value))
    if test[0] not in ("CMD", "CMD-SHELL", "NONE"):
        raise key.item(0).error('"CMD", "CMD-SHELL" or "NONE"', test[0])
    return test


def _seconds(node: Mapping[str, Any], name: str, key: Key, default: float) -> float:
    return duration(node[name], key.child(name)) if name in node else default
