"""The three contenders, each driving one copy of the sample project.

* :class:`DevdUp`: ``devd up --log-format json`` in a subprocess; its JSON events are kept;
* :class:`ComposeWatch`: ``docker compose up`` then ``docker compose watch --no-up``;
* :class:`Floor`: the same build and container replace (or file copy and restart) done
  directly through the Docker SDK, with no watcher: what the engine itself costs.

Everything they create is named after the run (``devdbench<run id>...``) and labelled, so
:func:`bench.cleanup.remove_run` finds it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import signal
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

import docker.errors

from bench.probe import tree, wait_until
from bench.sample import CONTAINER_PORT, WWW_TARGET, Sample
from devd.engine import anchor_image

RUN_LABEL = "devd.bench"
# How devd is started; DEVD_BENCH_COMMAND (split like a shell) runs another one, for example
# a script that patches devd before calling devd.cli.main, to measure a change side by side.
DEVD = shlex.split(os.environ.get("DEVD_BENCH_COMMAND", "")) or [sys.executable, "-m", "devd.cli"]


class _Lines:
    """Reads a process's output in the background, keeping each line with its arrival time."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._readers = [
            threading.Thread(target=self._read, args=(stream,), daemon=True)
            for stream in (process.stdout, process.stderr)
            if stream is not None
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            with self._lock:
                self.lines.append((time.perf_counter(), line.rstrip("\n")))

    def snapshot(self) -> list[tuple[float, str]]:
        with self._lock:
            return list(self.lines)

    def join(self) -> None:
        for reader in self._readers:
            reader.join(timeout=5)


def _end(process: subprocess.Popen[str], sig: int, timeout: float) -> None:
    """Signal the process group, wait; kill it if it does not end in time."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=timeout)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


class DevdUp:
    """A running ``devd up`` on ``sample``; ``command`` starts devd (default :data:`DEVD`)."""

    def __init__(
        self,
        sample: Sample,
        project: str,
        port: int,
        name: str = "devd",
        command: list[str] | None = None,
    ) -> None:
        self.sample = sample
        self.project = project
        self.port = port
        self.name = name
        self.startup_s: float | None = None  # launch -> serving, set by the bench
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [*(command or DEVD), "-C", str(sample.root), "--log-format", "json", "up"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )
        self.output = _Lines(self.process)

    @property
    def pids(self) -> list[int]:
        return tree(self.process.pid)

    def events(self, name: str | None = None) -> list[tuple[float, dict[str, Any]]]:
        found = []
        for at, line in self.output.snapshot():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and (name is None or event.get("event") == name):
                found.append((at, event))
        return found

    def count(self, name: str) -> int:
        return len(self.events(name))

    def wait_count(self, name: str, count: int, timeout: float) -> dict[str, Any]:
        def reached() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"devd up exited ({self.process.returncode}): {self.tail()}")
            return self.count(name) >= count

        wait_until(reached, timeout, f"{count} x devd event {name!r} ({self.tail()})")
        return self.events(name)[count - 1][1]

    def errors(self) -> list[str]:
        return [
            f"{event.get('event')}: {event.get('error', '')}"
            for _, event in self.events()
            if event.get("level") == "error"
        ]

    def tail(self) -> str:
        return " | ".join(line for _, line in self.output.snapshot()[-5:])

    def stop(self) -> None:
        _end(self.process, signal.SIGINT, 60)
        self.output.join()


def prebuild(sample: Sample, command: list[str] | None = None, timeout: float = 300) -> None:
    """``devd build``: the image in the engine's cache before ``devd up`` is timed."""
    result = subprocess.run(
        [*(command or DEVD), "-C", str(sample.root), "build"],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"devd build failed: {result.stderr[-2000:]}")


class ComposeWatch:
    """``docker compose`` on ``sample``: started with ``up``, watched by ``watch --no-up``."""

    name = "compose"

    def __init__(self, sample: Sample, project: str, port: int) -> None:
        self.sample = sample
        self.project = project
        self.port = port
        self.process: subprocess.Popen[str] | None = None
        self.output: _Lines | None = None
        self.startup_s: float | None = None  # up + watch -> serving, set by the bench
        self.env = {**os.environ, "COMPOSE_BAKE": "false", "COMPOSE_MENU": "false"}

    def _compose(self, *args: str) -> list[str]:
        return [
            "docker",
            "compose",
            "-p",
            self.project,
            "--project-directory",
            str(self.sample.root),
            *args,
        ]

    def build(self, timeout: float = 300) -> None:
        result = subprocess.run(
            self._compose("build"), capture_output=True, text=True, timeout=timeout, env=self.env
        )
        if result.returncode != 0:
            raise RuntimeError(f"docker compose build failed: {result.stderr[-2000:]}")

    def up(self, timeout: float = 300) -> None:
        result = subprocess.run(
            self._compose("up", "-d", "--build"),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
        )
        if result.returncode != 0:
            raise RuntimeError(f"docker compose up failed: {result.stderr[-2000:]}")

    def watch(self, timeout: float = 120) -> None:
        self.process = subprocess.Popen(
            self._compose("watch", "--no-up"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
            start_new_session=True,
        )
        self.output = _Lines(self.process)
        wait_until(lambda: self.said("Watch enabled"), timeout, "compose: Watch enabled")

    @property
    def pids(self) -> list[int]:
        return tree(self.process.pid) if self.process is not None else []

    def said(self, text: str) -> int:
        lines = self.output.snapshot() if self.output is not None else []
        return sum(1 for _, line in lines if text in line)

    def rebuilds(self) -> int:
        return self.said("Rebuilding service")

    def stop(self) -> None:
        if self.process is not None:
            _end(self.process, signal.SIGINT, 30)
            assert self.output is not None
            self.output.join()

    def down(self) -> None:
        subprocess.run(
            self._compose("down", "--rmi", "all", "-v", "--remove-orphans", "-t", "2"),
            capture_output=True,
            text=True,
            timeout=120,
            env=self.env,
        )


class Floor:
    """The engine's floor: the same work done straight through the SDK, no watcher.

    ``anchored`` (the floor devd is measured against): the container joins the network of an
    anchor made once, as devd's do (devd.anchors); otherwise (``floor-own-network``, for
    reference) each new container publishes the port on a network endpoint of its own."""

    def __init__(
        self, client: Any, sample: Sample, project: str, port: int, run_id: str, anchored: bool
    ):
        self.api = client.api
        self.sample = sample
        self.project = project
        self.port = port
        self.anchored = anchored
        self.name = "floor" if anchored else "floor-own-network"
        self.tag = f"{project}:latest"
        # One label, as devd's builds carry one (each is one extra step in a classic build).
        self.labels = {RUN_LABEL: run_id}
        self.container: str | None = None
        self.anchor: str | None = None

    def build(self) -> str:
        image = None
        for chunk in self.api.build(
            path=str(self.sample.root),
            tag=self.tag,
            labels=self.labels,
            rm=True,
            forcerm=True,
            decode=True,
        ):
            if "error" in chunk:
                raise RuntimeError(f"floor build failed: {chunk['error']}")
            if "aux" in chunk and "ID" in chunk["aux"]:
                image = chunk["aux"]["ID"]
        if image is None:
            raise RuntimeError("floor build gave no image")
        return str(image)

    def replace(self, image: str) -> None:
        """Remove the running container and run a new one: ``docker rm -f`` + ``docker run``
        (``--network container:<anchor>`` when anchored)."""
        if self.container is not None:
            self.api.remove_container(self.container, force=True)
        if self.anchored:
            anchor = self.anchor or self._make_anchor()
            ports: dict[str, Any] = {}
            host_config = self.api.create_host_config(init=True, network_mode=f"container:{anchor}")
        else:
            ports = {"ports": [(str(CONTAINER_PORT), "tcp")]}
            host_config = self.api.create_host_config(port_bindings=self._bindings(), init=True)
        created = self.api.create_container(
            image=image, name=self.project, labels=self.labels, detach=True,
            host_config=host_config, **ports,
        )  # fmt: skip
        self.container = str(created["Id"])
        self.api.start(self.container)

    def _bindings(self) -> dict[str, list[tuple[str, int]]]:
        return {f"{CONTAINER_PORT}/tcp": [("127.0.0.1", self.port)]}

    def _make_anchor(self) -> str:
        """devd's anchor image (imported if missing) run once, holding the published port."""
        tag = anchor_image.anchor_tag()
        try:
            self.api.inspect_image(tag)
        except docker.errors.ImageNotFound:
            repository, version = tag.split(":")
            self.api.import_image_from_data(
                anchor_image.anchor_archive(), repository=repository, tag=version,
                changes=anchor_image.import_changes(),
            )  # fmt: skip
        created = self.api.create_container(
            image=tag, name=f"{self.project}.anchor", labels=self.labels, detach=True,
            ports=[(str(CONTAINER_PORT), "tcp")], stop_signal="SIGKILL",
            host_config=self.api.create_host_config(port_bindings=self._bindings()),
        )  # fmt: skip
        self.anchor = str(created["Id"])
        self.api.start(self.anchor)
        return self.anchor

    def put(self, name: str) -> None:
        """``docker cp`` of one file of www/ to where the Dockerfile's COPY puts it."""
        assert self.container is not None
        data = (self.sample.root / "www" / name).read_bytes()
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            info = tarfile.TarInfo(f"{WWW_TARGET.lstrip('/')}/{name}")
            info.size = len(data)
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
        self.api.put_archive(self.container, "/", buffer.getvalue())

    def restart(self) -> None:
        assert self.container is not None
        self.api.restart(self.container, timeout=10)

    def close(self) -> None:
        for container in (self.container, self.anchor):
            if container is not None:
                self.api.remove_container(container, force=True)
        self.container = self.anchor = None


def project_dir(base: Path, name: str) -> Path:
    return base / name
