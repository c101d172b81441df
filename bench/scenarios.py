"""The measurements. Each contender works on its own copy of the sample project, with its own
port and project name; rounds interleave the contenders, so they share the machine's noise.

Contenders: devd (as the tree has it, or ``DEVD_BENCH_COMMAND``), ``compose`` and the
``floor``.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.cleanup import COMPOSE_LABEL
from bench.drivers import DEVD, ComposeWatch, DevdUp, Floor, prebuild
from bench.probe import (
    Starts,
    cpu_seconds,
    free_port,
    inotify_watches,
    rss_mb,
    wait_served,
    wait_until,
)
from bench.sample import Sample
from bench.wheels import WheelSample

SERVE_TIMEOUT = 120.0
SETTLE_S = 1.0  # quiet time after each trial, so the next starts from an idle contender
WEIGHT_MB = 300  # the weight mode's assets under COPY . . (issue 16)
BURST_WRITES = 1000
BURST_FILES = 100


@dataclass
class Series:
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {"median": self.median, "samples": [round(s, 4) for s in self.samples]}


@dataclass
class Settings:
    rounds: int = 5
    dependency_rounds: int = 3
    idle_seconds: float = 60.0
    big_files: int = 50_000
    weight_mb: int = WEIGHT_MB
    debounce_ms: int | None = None  # None: devd's default
    modes: tuple[str, ...] = ("rebuild", "sync-restart", "sync")
    variants: dict[str, list[str]] = field(default_factory=lambda: {"devd": DEVD})
    poll: str = "gated"  # or "continuous": see probe.Starts
    log: Callable[[str], None] = print


Contender = DevdUp | ComposeWatch | Floor


class Run:
    """One benchmark run: its id, its scratch directory, the Docker client, the results."""

    def __init__(self, client: Any, base: Path, settings: Settings) -> None:
        self.client = client
        self.base = base
        self.settings = settings
        self.id = uuid.uuid4().hex[:6]
        self.results: dict[str, Any] = {}
        self.devds: list[DevdUp] = []
        self.composes: list[ComposeWatch] = []
        self.floors: list[Floor] = []
        self.log = settings.log
        self.starts = Starts(client)

    def name(self, what: str) -> str:
        return f"devdbench{self.id}-{what.replace('+', '-')}"

    # -- contenders -------------------------------------------------------------------------

    def start_devd(
        self,
        variant: str,
        mode: str,
        sample: Sample | WheelSample,
        tag: str,
        name: str | None = None,
        initial: str = "index-initial",
    ) -> DevdUp:
        """devd ``variant`` on ``sample`` (``mode``: the code action, or for a WheelSample
        the dependency action), named ``name`` (default: the variant)."""
        command = self.settings.variants[variant]
        port = free_port()
        project = self.name(tag)
        sample.devd_toml(project, port, mode, self.settings.debounce_ms)
        prebuild(sample, command)  # start-up is measured with the image cached, as compose's
        devd = DevdUp(sample, project, port, name or variant, command)
        self.devds.append(devd)
        gate = self.starts.since(devd.started, "devd.project", project)
        served = wait_served(port, initial, SERVE_TIMEOUT, gate=gate)
        devd.wait_count("running", 1, SERVE_TIMEOUT)
        devd.startup_s = served - devd.started
        return devd

    def start_compose(
        self, mode: str, sample: Sample | WheelSample, tag: str, initial: str = "index-initial"
    ) -> ComposeWatch:
        port = free_port()
        sample.compose_yaml(port, mode, {"devd.bench": self.id})
        compose = ComposeWatch(sample, self.name(tag), port)
        self.composes.append(compose)
        compose.build()
        started = time.perf_counter()
        compose.up()
        compose.watch()
        wait_served(port, initial, SERVE_TIMEOUT)
        compose.startup_s = time.perf_counter() - started
        return compose

    def start_floor(self, sample: Sample, tag: str, anchored: bool = True) -> Floor:
        floor = Floor(self.client, sample, self.name(tag), free_port(), self.id, anchored)
        self.floors.append(floor)
        floor.replace(floor.build())
        wait_served(floor.port, "index-initial", SERVE_TIMEOUT)
        return floor

    def stop_all(self) -> None:
        for devd in self.devds:
            devd.stop()
        for compose in self.composes:
            compose.stop()
            compose.down()
        for floor in self.floors:
            floor.close()
        self.devds, self.composes, self.floors = [], [], []

    # -- one save ---------------------------------------------------------------------------

    def marker(self, what: str) -> str:
        return f"{what.replace('+', '-')}-{uuid.uuid4().hex[:10]}"

    def save(self, contender: Contender, mode: str, name: str, path: str) -> float:
        """Write ``name`` with new content; seconds until ``path`` serves it."""
        if isinstance(contender, DevdUp):
            done = "running" if mode == "rebuild" or name == "deps.txt" else "synced"
            before = contender.count(done)
        marker = self.marker(contender.name)
        started = time.perf_counter()
        contender.sample.write(name, marker + "\n")
        if isinstance(contender, Floor):
            if mode == "rebuild" or name == "deps.txt":
                contender.replace(contender.build())
            else:
                contender.put(Path(name).name)
                if mode == "sync-restart":
                    contender.restart()
        gate = self._gate(contender, mode, name, started)
        served = wait_served(contender.port, marker, SERVE_TIMEOUT, path, gate)
        if isinstance(contender, DevdUp):
            contender.wait_count(done, before + 1, SERVE_TIMEOUT)
        return served - started

    def _gate(
        self, contender: Contender, mode: str, name: str, started: float
    ) -> Callable[[], bool] | None:
        """For a save that (re)starts a container: poll once it has started (probe.Starts)."""
        restarts = mode != "sync" or name == "deps.txt"
        if not restarts or self.settings.poll == "continuous":
            return None
        if isinstance(contender, DevdUp):
            return self.starts.since(started, "devd.project", contender.project)
        if isinstance(contender, ComposeWatch):
            return self.starts.since(started, COMPOSE_LABEL, contender.project)
        return self.starts.since(started, "name", contender.project)

    # -- the scenarios ----------------------------------------------------------------------

    def code_mode(self, mode: str) -> None:
        """Code saves in one mode (and, for rebuild, the dependency change, the burst, idle
        CPU and memory); every contender side by side."""
        live = mode == "sync"
        self.log(f"== {mode}: starting the contenders")
        contenders: list[Contender] = []
        for variant in self.settings.variants:
            sample = Sample(self.base / f"{mode}-{variant}", live=live)
            contenders.append(self.start_devd(variant, mode, sample, f"{mode}-{variant}"))
        compose = self.start_compose(mode, Sample(self.base / f"{mode}-compose", live=live),
                                     f"{mode}-compose")  # fmt: skip
        floor = self.start_floor(Sample(self.base / f"{mode}-floor", live=live), f"{mode}-floor")
        contenders += [compose, floor]
        if mode != "sync":  # a sync never replaces the container: the two floors are one
            own = Sample(self.base / f"{mode}-floor-own", live=live)
            contenders.append(self.start_floor(own, f"{mode}-floor-own", anchored=False))
        devds = [c for c in contenders if isinstance(c, DevdUp)]
        if mode == "rebuild":
            starters: list[DevdUp | ComposeWatch] = [*devds, compose]
            self.results["startup_small"] = {
                c.name: c.startup_s for c in starters if c.startup_s is not None
            }
        time.sleep(SETTLE_S)
        key = f"code/{mode}"
        self.results[key] = self._rounds(key, contenders, mode, "www/index.html", "/",
                                         self.settings.rounds)  # fmt: skip
        done = "running" if mode == "rebuild" else "synced"
        self.results[key]["devd_reported_total_s"] = {
            d.name: [e.get("total_s") for _, e in d.events(done)[-self.settings.rounds :]]
            for d in devds
        }
        if mode == "rebuild":
            self.results["dependency"] = self._rounds(
                "dependency", contenders, mode, "deps.txt", "/deps.txt",
                self.settings.dependency_rounds,
            )  # fmt: skip
            self.burst([*devds, compose])
            self.idle([*devds, compose])
        self.results[key]["devd_errors"] = {d.name: d.errors() for d in devds}
        self.stop_all()

    def _rounds(
        self, what: str, contenders: list[Contender], mode: str, name: str, path: str, n: int
    ) -> dict[str, Any]:
        series = {c.name: Series() for c in contenders}
        for number in range(n):
            shift = number % len(contenders)
            for contender in contenders[shift:] + contenders[:shift]:
                took = self.save(contender, mode, name, path)
                series[contender.name].samples.append(took)
                self.log(f"   {what} round {number + 1}/{n} {contender.name:14s} {took:6.3f} s")
                time.sleep(SETTLE_S)
        return {name: s.as_dict() for name, s in series.items()}

    def weight(self) -> None:
        """``settings.weight_mb`` MB of assets under ``COPY . .``: a code save, rebuilt, devd
        (each variant) against compose, side by side; with the bytes devd's session sent
        for each rebuild (its ``running`` event) against the budget: twice the saved file
        plus the Dockerfile."""
        mb = self.settings.weight_mb
        self.log(f"== weight: {mb} MB of assets under COPY . .; starting the contenders")
        contenders: list[Contender] = []
        for variant in self.settings.variants:
            sample = Sample(self.base / f"weight-{variant}", live=False, copy_all=True)
            sample.add_assets(mb)
            contenders.append(self.start_devd(variant, "rebuild", sample, f"weight-{variant}"))
        own = Sample(self.base / "weight-compose", live=False, copy_all=True)
        own.add_assets(mb)
        contenders.append(self.start_compose("rebuild", own, "weight-compose"))
        time.sleep(SETTLE_S)
        rounds = self.settings.rounds
        result = self._rounds("weight", contenders, "rebuild", "www/index.html", "/", rounds)
        devds = [c for c in contenders if isinstance(c, DevdUp)]
        result["bytes"] = {
            d.name: {
                "saved_file": (d.sample.root / "www" / "index.html").stat().st_size,
                "dockerfile": (d.sample.root / "Dockerfile").stat().st_size,
                "file_bytes": [e.get("file_bytes") for _, e in d.events("running")[-rounds:]],
                "session_bytes": [e.get("session_bytes") for _, e in d.events("running")[-rounds:]],
            }
            for d in devds
        }
        result["devd_reported"] = {
            d.name: [
                {k: e.get(k) for k in ("build_s", "restart_s", "total_s")}
                for _, e in d.events("running")[-rounds:]
            ]
            for d in devds
        }
        result["weight_mb"] = mb
        result["devd_errors"] = {d.name: d.errors() for d in devds}
        self.results["weight"] = result
        self.stop_all()

    def dependency_exec(self) -> None:
        """One package added to the 30 local wheels of bench/wheels.py's app, save -> the app
        imports it: devd with ``dependency_action = "exec"``, devd with the default rebuild
        and compose's ``rebuild`` (``init: true``), side by side, ``rounds`` times; each
        round adds one more package. devd's own events (exec and restart times, build and
        replace times) are kept with the samples."""
        self.log("== dependency-exec: starting the contenders")
        contenders: list[DevdUp | ComposeWatch] = []
        samples: dict[str, WheelSample] = {}
        for variant in self.settings.variants:
            for action in ("exec", "rebuild"):
                name = f"{variant}-{action}"
                sample = WheelSample(self.base / f"wheels-{name}", f"{self.id}-{name}")
                samples[name] = sample
                tag = f"wheels-{name}"
                contenders.append(
                    self.start_devd(variant, action, sample, tag, name, sample.served)
                )
        sample = WheelSample(self.base / "wheels-compose", f"{self.id}-compose")
        samples["compose"] = sample
        contenders.append(self.start_compose("rebuild", sample, "wheels-compose", sample.served))
        time.sleep(SETTLE_S)
        rounds = self.settings.rounds
        series = {c.name: Series() for c in contenders}
        events: dict[str, list[dict[str, Any]]] = {c.name: [] for c in contenders}
        for number in range(rounds):
            shift = number % len(contenders)
            for contender in contenders[shift:] + contenders[:shift]:
                took, event = self._add_package(contender, samples[contender.name])
                series[contender.name].samples.append(took)
                events[contender.name].append(event)
                self.log(
                    f"   dependency-exec round {number + 1}/{rounds} {contender.name:14s} "
                    f"{took:6.3f} s {event}"
                )
                time.sleep(SETTLE_S)
        result: dict[str, Any] = {name: s.as_dict() for name, s in series.items()}
        result["events"] = events
        result["devd_errors"] = {c.name: c.errors() for c in contenders if isinstance(c, DevdUp)}
        self.results["dependency-exec"] = result
        self.stop_all()

    def _add_package(
        self, contender: DevdUp | ComposeWatch, sample: WheelSample
    ) -> tuple[float, dict[str, Any]]:
        """Add one package; seconds until the app serves it, and devd's event for the cycle
        (``installed`` for an exec, ``running`` for a rebuild; compose: its rebuild count)."""
        done = ("installed", "running")
        if isinstance(contender, DevdUp):
            before = sum(contender.count(name) for name in done)
        else:
            rebuilds = contender.rebuilds()
        started = time.perf_counter()
        sample.add_package()
        gate = self._gate(contender, "rebuild", "requirements.txt", started)
        served = wait_served(contender.port, sample.served, SERVE_TIMEOUT, "/", gate)
        if not isinstance(contender, DevdUp):
            return served - started, {"rebuilds": contender.rebuilds() - rebuilds}
        wait_until(
            lambda: sum(contender.count(name) for name in done) > before,
            SERVE_TIMEOUT,
            f"{contender.name}: installed or running",
        )
        _at, event = max(
            (item for name in done for item in contender.events(name)), key=lambda i: i[0]
        )
        keep = ("event", "exec_s", "build_s", "restart_s", "total_s", "not_exec")
        return served - started, {key: event[key] for key in keep if key in event}

    def burst(self, contenders: list[DevdUp | ComposeWatch]) -> None:
        """1,000 writes to 100 files, then a last save of index.html: builds, time to served."""
        results: dict[str, Any] = {}
        for contender in contenders:
            before = _builds(contender)
            final = self.marker(f"burst-{contender.name}")
            started = time.perf_counter()
            for number in range(BURST_WRITES):
                contender.sample.write(f"www/page{number % BURST_FILES}.html",
                                       f"burst {number}\n")  # fmt: skip
            contender.sample.write("www/index.html", final + "\n")
            last_write = time.perf_counter()
            gate = self._gate(contender, "rebuild", "www/index.html", started)
            served = wait_served(contender.port, final, SERVE_TIMEOUT, gate=gate)
            time.sleep(3.0)  # let any follow-up build start and finish
            last = f"burst {BURST_WRITES - 1}"
            page = wait_served(contender.port, last, SERVE_TIMEOUT, f"/page{BURST_FILES - 1}.html")
            results[contender.name] = {
                "builds": _builds(contender) - before,
                "writes_s": last_write - started,
                "served_after_first_write_s": served - started,
                "served_after_last_write_s": served - last_write,
                "last_state_served": page > 0,
            }
            self.log(f"   burst {contender.name}: {results[contender.name]}")
            time.sleep(SETTLE_S)
        self.results["burst"] = results

    def idle(self, contenders: list[DevdUp | ComposeWatch]) -> None:
        """CPU and memory over ``idle_seconds`` with nothing changing, all at once."""
        seconds = self.settings.idle_seconds
        self.log(f"   idle: measuring {seconds:g} s")
        time.sleep(2.0)
        pids = {c.name: c.pids for c in contenders}
        cpu0 = {name: cpu_seconds(ids) for name, ids in pids.items()}
        rss: dict[str, list[float]] = {name: [] for name in pids}
        started = time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            for name, ids in pids.items():
                rss[name].append(rss_mb(ids))
            time.sleep(min(1.0, max(0.0, seconds - elapsed)))
        wall = time.perf_counter() - started
        self.results["idle"] = {
            name: {
                "cpu_percent": 100 * (cpu_seconds(ids) - cpu0[name]) / wall,
                "rss_mb": max(rss[name]),
                "seconds": wall,
            }
            for name, ids in pids.items()
        }
        self.log(f"   idle: {self.results['idle']}")

    def big_tree(self) -> None:
        """Start-up time and memory with ``big_files`` files, nearly all under the excluded
        node_modules/; then one save, to show the watcher works."""
        files = self.settings.big_files
        self.log(f"== start-up with {files} files")
        results: dict[str, Any] = {}
        for name in [*self.settings.variants, "compose"]:
            sample = Sample(self.base / f"big-{name}", live=False)
            sample.add_tree("www/assets", files // 50)
            sample.add_tree("node_modules", files - files // 50 - 25)
            contender: DevdUp | ComposeWatch
            if name == "compose":
                contender = self.start_compose("rebuild", sample, "big-compose")
            else:
                contender = self.start_devd(name, "rebuild", sample, f"big-{name}")
            time.sleep(2.0)
            pids = contender.pids
            row: dict[str, Any] = {
                "startup_s": contender.startup_s,
                "rss_mb": rss_mb(pids),
                "peak_rss_mb": rss_mb(pids, "VmHWM"),
                "inotify_watches": inotify_watches(pids),
            }
            row["save_served_s"] = self.save(contender, "rebuild", "www/index.html", "/")
            if isinstance(contender, DevdUp):
                row["errors"] = contender.errors()
                row["inotify_messages"] = [
                    line for _, line in contender.output.snapshot() if "inotify" in line.lower()
                ]
            results[name] = row
            self.log(f"   {name}: {row}")
            self.stop_all()
        first = self.base / f"big-{next(iter(self.settings.variants))}"
        results["files"] = sum(1 for path in first.rglob("*") if path.is_file())
        self.results["big_tree"] = results


def _builds(contender: DevdUp | ComposeWatch) -> int:
    return contender.count("building") if isinstance(contender, DevdUp) else contender.rebuilds()
