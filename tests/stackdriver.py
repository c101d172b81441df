"""Compose-shaped projects for tests, built as the compose loader's output would be, and an
in-process ``devd up`` (:class:`Supervisor` in a thread) whose events the test can read."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from devd.config import ProjectConfig, ServiceConfig
from devd.daemon.supervisor import Supervisor
from devd.engine.engine import Engine
from devd.output import Output


def service(name: str, root: Path, **fields: Any) -> ServiceConfig:
    """A compose service ``name``: built from ``root/<context>`` unless ``build=False``."""
    context = (root / fields.pop("context", ".")).resolve()
    base = ServiceConfig(
        name=name,
        context=context,
        dockerfile=context / fields.pop("dockerfile", "Dockerfile"),
        target=None,
        build_args={},
        ports=(),
        environment={},
        env_file=None,
        command=None,
        code_action="rebuild",
        stop_timeout=1.0,
        dockerfile_no_cache=False,
    )
    return replace(base, **fields)


def project(root: Path, name: str, *services: ServiceConfig, **fields: Any) -> ProjectConfig:
    """A compose project ``name`` at ``root`` with its network ``<name>_default``."""
    return ProjectConfig(
        root=root.resolve(),
        name=name,
        source="compose.yaml",
        log_format="json",
        verbose=False,
        debounce_ms=50,
        ignore=("**/.git", "**/*.swp", "**/*~"),
        services={s.name: s for s in services},
        compose_file=root / "compose.yaml",
        network=fields.pop("network", f"{name}_default"),
        volumes=tuple(fields.pop("volumes", ())),
        external_volumes=tuple(fields.pop("external_volumes", ())),
    )


class Recorder(Output):
    """An Output that keeps every event (and container line) for the test to look at."""

    def __init__(self, services: list[str]) -> None:
        super().__init__(json_lines=True, services=services, stream=_Null())
        self.events: list[dict[str, Any]] = []
        self._events_lock = threading.Lock()

    def _keep(self, level: str, event: str, fields: dict[str, Any]) -> None:
        with self._events_lock:
            self.events.append({"event": event, "level": level, **fields})

    def info(self, event: str, **fields: Any) -> None:
        self._keep("info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._keep("warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._keep("error", event, fields)

    def debug(self, event: str, **fields: Any) -> None:
        pass

    def line(self, service: str, line: str, *, stream: str = "output") -> None:
        self._keep("line", stream, {"service": service, "line": line})

    def named(self, event: str, **fields: Any) -> list[dict[str, Any]]:
        with self._events_lock:
            return [
                e
                for e in self.events
                if e["event"] == event and all(e.get(k) == v for k, v in fields.items())
            ]


class _Null:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class InProcessUp:
    """``devd up`` for ``config`` in a thread; ``stop()`` ends it as Ctrl-C would."""

    def __init__(self, config: ProjectConfig, engine: Engine) -> None:
        self.out = Recorder(list(config.services))
        self.supervisor = Supervisor(config, engine, self.out)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.supervisor.run()
        except BaseException as error:  # handed to the test
            self.error = error

    def wait_event(self, event: str, count: int = 1, timeout: float = 60, **fields: Any) -> Any:
        try:
            found = wait_until(
                lambda: len(self.out.named(event, **fields)) >= count or self.error,
                timeout,
                f"{count} x {event} {fields}",
            )
        except AssertionError as error:
            seen = [e for e in self.out.events if e["level"] != "line"]
            raise AssertionError(f"{error}; saw {seen[-8:]}") from None
        if self.error is not None and found is self.error:
            raise AssertionError(f"devd up failed: {self.error}")
        return self.out.named(event, **fields)[count - 1]

    def stop(self, timeout: float = 60) -> None:
        self.supervisor.request_stop()
        self.thread.join(timeout)


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
