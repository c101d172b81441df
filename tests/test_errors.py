"""devd.errors: the one-line form of an engine's message."""

from __future__ import annotations

from devd.errors import one_line


def test_a_long_message_keeps_its_end() -> None:
    """A build error longer than the limit is cut in the middle, so ``devd status`` and the
    failure line keep its exit code (a long RUN line used to push it off the end); the
    whitespace runs are squeezed and the result fits the limit."""
    run = "pip install " + " ".join(f"package-{n}" for n in range(60))
    message = f'process "/bin/sh -c {run}" did not complete successfully:\n  exit code: 2'
    line = one_line(message)
    assert len(line) == 200
    assert line.startswith('process "/bin/sh -c pip install package-0 package-1')
    assert line.endswith("did not complete successfully: exit code: 2")
    assert " ... " in line
    assert one_line("short\n  text") == "short text"
    assert one_line("x" * 50, limit=20) == "x" * 5 + " ... " + "x" * 10
