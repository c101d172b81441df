"""devd.daemon.early_stop: the old container stopped while the new image gets its labels, and
started again when the build fails after all (a typed fake engine; the whole flow against
the real engine is in test_up.py and test_generations.py)."""

from __future__ import annotations

import threading
from dataclasses import replace

from devd.daemon.early_stop import EarlyStop
from devd.engine.container_spec import ContainerInfo
from devd.errors import ContainerGone
from tests.fakeengine import Recorder

RUNNING = ContainerInfo("c1", "proj-app", "sha256:old", "app", "running", None, "2026-01-01")


class Containers:
    """The container operations an early stop uses, recorded."""

    def __init__(self, fail_start: bool = False) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail_start = fail_start

    def stop(self, container_id: str, timeout: float) -> None:
        self.calls.append(("stop", container_id))

    def start(self, container_id: str) -> ContainerInfo:
        self.calls.append(("start", container_id))
        if self.fail_start:
            raise ContainerGone("cannot start container c1: it is gone")
        return replace(RUNNING, status="running")


class Setup:
    def __init__(self, container: ContainerInfo | None, engine: Containers) -> None:
        self.engine = engine
        self.out = Recorder()
        self.stopping = threading.Event()
        self.told: list[str] = []
        self.early = EarlyStop(
            engine,  # type: ignore[arg-type]  # only the two operations it uses
            self.out,
            "app",
            container,
            3.0,
            lambda: self.told.append("stopping"),
            self.stopping,
        )


def test_label_steps_stop_the_old_container_alongside() -> None:
    """When the build reaches its label steps the running container is stopped (in the
    background), the controller told first, so its end is not reported as a crash."""
    setup = Setup(RUNNING, Containers())
    setup.early.start()
    setup.early.join()
    assert setup.engine.calls == [("stop", "c1")]
    assert setup.told == ["stopping"]


def test_a_build_failing_after_the_early_stop_starts_the_old_container_again() -> None:
    """undo(): the old container is started again and handed back, running."""
    setup = Setup(RUNNING, Containers())
    setup.early.start()
    again = setup.early.undo()
    assert setup.engine.calls == [("stop", "c1"), ("start", "c1")]
    assert again is not None
    assert again.id == "c1"
    assert again.status == "running"


def test_undo_that_cannot_start_the_old_container_says_so() -> None:
    """A container gone meanwhile: reported as an error, None handed back, no exception."""
    setup = Setup(RUNNING, Containers(fail_start=True))
    setup.early.start()
    assert setup.early.undo() is None
    assert setup.out.named("could not start the previous container again")


def test_nothing_is_stopped_without_a_running_container_or_after_devd_stops() -> None:
    """No container, an exited one, or devd shutting down: the hook does nothing, and undo
    has nothing to undo."""
    for container in (None, replace(RUNNING, status="exited")):
        setup = Setup(container, Containers())
        setup.early.start()
        assert setup.early.undo() is None
        assert setup.engine.calls == []
        assert setup.told == []
    setup = Setup(RUNNING, Containers())
    setup.stopping.set()
    setup.early.start()
    assert setup.engine.calls == []
