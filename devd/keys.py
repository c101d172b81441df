"""Single keys on the terminal for ``devd up``, as other watch-mode tools take them.

Only when standard input is a terminal: it is put in cbreak mode (keys arrive one at a time,
no echo; Ctrl-C still interrupts) and restored on exit. Without a terminal nothing changes.
"""

from __future__ import annotations

import contextlib
import os
import sys
import termios
import threading
import tty
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Key:
    """A key, what it does (for the list shown at start) and the action."""

    key: str
    help: str
    action: Callable[[], None]


def legend(keys: Mapping[str, Key]) -> str:
    """``r rebuild · R rebuild without cache · ...``: the line shown once at start."""
    return " · ".join(f"{k.key} {k.help}" for k in keys.values())


@contextlib.contextmanager
def listening(keys: Mapping[str, Key], fd: int | None = None) -> Iterator[bool]:
    """Run each key's action when it is pressed, while the block runs.

    Yields whether keys are taken (False when standard input is not a terminal).
    """
    fd = sys.stdin.fileno() if fd is None else fd
    if not os.isatty(fd):
        yield False
        return
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)
    thread = threading.Thread(target=_read, args=(fd, keys), name="keys", daemon=True)
    thread.start()
    try:
        yield True
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _read(fd: int, keys: Mapping[str, Key]) -> None:
    while True:
        try:
            data = os.read(fd, 1)
        except OSError:
            return
        if not data:
            return
        key = keys.get(data.decode(errors="replace"))
        if key is not None:
            key.action()
