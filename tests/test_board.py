"""devd.daemon.board: what services post about their start, and who hears of it."""

from __future__ import annotations

from devd.daemon.board import NOT_CONFIGURED, Board
from devd.engine.container_spec import ContainerInfo

DB = ContainerInfo("d1", "proj-db", "sha256:db", "db", "running", None, "")


def test_subscribers_hear_of_a_first_start_once() -> None:
    """The first start is told to every subscriber; later containers (replaces) update what
    the board says, without telling anyone again."""
    board, heard = Board(), list[str]()
    board.join("db")
    board.subscribe(heard.append)
    assert board.started("db") is None
    board.post_started("db", DB)
    board.post_started("db", ContainerInfo("d2", "proj-db", "sha256:2", "db", "running", None, ""))
    assert heard == ["db"]
    started = board.started("db")
    assert started is not None
    assert started.id == "d2"


def test_a_failure_is_known_until_the_service_tries_again_or_starts() -> None:
    """Why a first start failed is posted, cleared when the service tries again, and gone
    once it starts; a service that is not configured has failed for that reason."""
    board = Board()
    assert board.failed("db") == NOT_CONFIGURED
    board.join("db")
    assert board.failed("db") is None
    board.post_failed("db", "its build failed")
    assert board.failed("db") == "its build failed"
    board.post_failed("db", None)
    assert board.failed("db") is None
    board.post_failed("db", "its build failed")
    board.post_started("db", DB)
    assert board.failed("db") is None


def test_a_service_that_leaves_is_no_longer_started() -> None:
    """A retired service: its dependents' waits see it as not configured."""
    board = Board()
    board.join("db")
    board.post_started("db", DB)
    board.leave("db")
    assert board.started("db") is None
    assert board.failed("db") == NOT_CONFIGURED
