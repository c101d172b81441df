"""What a reloaded configuration changes: old services against new, as a pure diff.

``devd up`` applies a changed devd.toml, compose file or ``.env`` by touching only what
changed (:mod:`devd.daemon.supervisor`): a service that is gone is retired, a new one is
added, one whose settings changed is reconfigured and its container recreated, and one
whose settings are the same but whose project's ignore rules changed is reconfigured only
(the ignore rules change what is watched and what a save means, not the container).

Pure: it compares values; tests/test_configdiff.py drives it with generated configurations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

Settings = TypeVar("Settings")


@dataclass(frozen=True)
class ConfigDiff:
    """The services a reload retires, adds and reconfigures (each in the configuration's
    order); ``recreate``: those of ``changed`` whose container is made again."""

    removed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    recreate: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        """Whether the reload touches no service."""
        return not (self.removed or self.added or self.changed)


def diff(
    old: Mapping[str, Settings],
    new: Mapping[str, Settings],
    ignore_changed: bool = False,
) -> ConfigDiff:
    """The services of ``old`` that ``new`` drops, those it adds, and those it changes (their
    settings differ, or ``ignore_changed``: the project's ignore rules differ, which
    reconfigures every kept service without recreating its container)."""
    removed = tuple(name for name in old if name not in new)
    added = tuple(name for name in new if name not in old)
    kept = [name for name in new if name in old]
    recreate = frozenset(name for name in kept if old[name] != new[name])
    changed = tuple(name for name in kept if name in recreate or ignore_changed)
    return ConfigDiff(removed, added, changed, recreate)
