"""Stop signals as the engine takes them (``stop_signal: SIGINT``): a name with or without
``SIG``, in any case, or a number, as moby's ``signal.ParseSignal`` reads it on Linux. The
engine sends it to stop a container (then SIGKILL after the stop timeout). Pure."""

from __future__ import annotations

_NAMES = frozenset({
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT",
    "KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM",
    "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
    "RTMIN", "RTMAX",
    *(f"RTMIN+{n}" for n in range(1, 16)),
    *(f"RTMAX-{n}" for n in range(1, 15)),
})  # fmt: skip
_HIGHEST = 64
EXPECTED = 'a signal such as "SIGINT", "SIGQUIT" or "2"'


def signal_problem(text: str) -> str | None:
    """Why the engine would refuse ``text`` as a stop signal; None when it takes it."""
    if text.isdigit():
        return None if 1 <= int(text) <= _HIGHEST else f"expected {EXPECTED}, got {text!r}"
    if text.upper().removeprefix("SIG") in _NAMES:
        return None
    return f"expected {EXPECTED}, got {text!r}"
