"""The ``devd`` command line. The only place that prints errors and chooses exit codes.

Exit codes: 0 success; 1 a command that ran and failed (e.g. a build); 2 bad input — invalid
configuration, an unreadable Dockerfile, an engine that does not answer, wrong arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from devd import __version__, commands, config, doctor, explain, keys, log
from devd.daemon import remote_ports
from devd.daemon.supervisor import Supervisor
from devd.engine import engine
from devd.errors import ConfigError, DevdError, EngineUnavailable
from devd.output import Output
from devd.project import relative, service_view
from devd.state import state_dir, take_rebuild_request

EXIT_USAGE = 2
INACTIVE = "not started: their profiles are not active"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="devd",
        description="A file-watcher dev daemon with smart rebuilds for Docker projects.",
    )
    parser.add_argument("--version", action="version", version=f"devd {__version__}")
    parser.add_argument(
        "-C", "--project-dir", type=Path, default=None,
        help="the project directory (default: the current directory)",
    )  # fmt: skip
    parser.add_argument(
        "--log-format", choices=["auto", "console", "json"], default=None,
        help="log output: readable on a terminal, JSON lines otherwise (default: auto)",
    )  # fmt: skip
    parser.add_argument(
        "-f", "--file", dest="files", action="append", type=Path, default=[], metavar="FILE",
        help="a compose file, relative to the project directory (again for each file to merge "
        "over the ones before; default: COMPOSE_FILE, else compose.yaml and its override file)",
    )  # fmt: skip
    parser.add_argument(
        "--profile", dest="profiles", action="append", default=[], metavar="NAME",
        help="a compose profile to activate (again for more; default: COMPOSE_PROFILES)",
    )  # fmt: skip
    parser.add_argument("-v", "--verbose", action="store_true", default=None, help="more output")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    explain = commands.add_parser(
        "explain",
        help="say what a change to each PATH means for each service's image",
        description=(
            "Classify each PATH for each service as dockerfile, dependency, code or ignored, "
            "with the Dockerfile line, ignore pattern or RUN step behind the answer; a file "
            "whose save reloads devd's configuration gets a 'config' row first. "
            "PATH may name a file that does not exist (yet)."
        ),
    )
    explain.add_argument(
        "paths", nargs="+", metavar="PATH", help="relative to the current directory"
    )
    explain.add_argument("--json", action="store_true", help="print a JSON list of objects")
    explain.add_argument("--service", metavar="NAME", help="only this service")
    explain.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
        help="also print the warnings about the compose files (what devd up prints)",
    )  # fmt: skip
    explain.set_defaults(handler=cmd_explain)

    up = commands.add_parser(
        "up",
        help="build, run and watch: rebuild or sync on every save",
        description=(
            "Build each service's image, start its container, print its output, and watch "
            "the project: each save is classified and gets the least work that makes the "
            "container right again. Ctrl-C stops the containers and exits."
        ),
    )
    up.set_defaults(handler=cmd_up)

    build = commands.add_parser("build", help="build the images (start nothing)")
    build.add_argument("--no-cache", action="store_true", help="build every step anew")
    build.add_argument("services", nargs="*", metavar="SERVICE")
    build.set_defaults(handler=cmd_build)

    rebuild = commands.add_parser(
        "rebuild",
        help="rebuild and replace the containers ('something is strange': --no-cache)",
        description=(
            "Rebuild the images and replace the containers. With --no-cache every step runs "
            "anew. When devd up runs for this project, it is asked to do it."
        ),
    )
    rebuild.add_argument("--no-cache", action="store_true", help="build every step anew")
    rebuild.add_argument("services", nargs="*", metavar="SERVICE")
    rebuild.set_defaults(handler=cmd_rebuild)

    down = commands.add_parser("down", help="stop and remove this project's containers")
    down.set_defaults(handler=cmd_down)

    status = commands.add_parser("status", help="services, containers, images, last builds")
    status.add_argument("--json", action="store_true", help="print a JSON list of objects")
    status.set_defaults(handler=cmd_status)

    logs = commands.add_parser("logs", help="the containers' output")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new output")
    logs.add_argument("services", nargs="*", metavar="SERVICE")
    logs.set_defaults(handler=cmd_logs)

    clean = commands.add_parser(
        "clean",
        help="remove this project's containers and the images its builds made (nothing else)",
    )
    clean.set_defaults(handler=cmd_clean)

    doctor_cmd = commands.add_parser(
        "doctor",
        help="diagnose slow or stale builds: cache order, ignore file, context, layers",
        description=(
            "Check each service's Dockerfile, ignore file, build context, recent rebuilds and "
            "image layers for what makes builds slow or stale; each finding names the file "
            "and line, what it costs and the fix. Exit 1 when any finding is a warning."
        ),
    )
    doctor_cmd.add_argument("--json", action="store_true", help="print a JSON list of objects")
    doctor_cmd.add_argument("services", nargs="*", metavar="SERVICE")
    doctor_cmd.set_defaults(handler=cmd_doctor)
    return parser


def load_project(
    args: argparse.Namespace, *, starts: bool = False, report: bool = False
) -> config.ProjectConfig:
    """The configuration. ``starts``: for a command that starts containers, a problem of the
    compose files (a missing env_file) is an error; else it is a warning (on stderr, one
    ``devd: warning: ...`` line) or, for commands that only stop or look, nothing. With
    ``report`` the warnings (compose keys devd ignores...) go to stderr too."""
    overrides: dict[str, Any] = {"log_format": args.log_format, "verbose": args.verbose}
    compose = config.ComposeChoice(tuple(args.files), tuple(args.profiles))
    project = config.load(args.project_dir or Path.cwd(), overrides, compose=compose)
    if starts and project.problems:
        raise ConfigError(project.problems[0])
    for warning in project.warnings if report else ():
        print(f"devd: warning: {warning}", file=sys.stderr)
    return project


def cmd_explain(args: argparse.Namespace) -> int:
    project = load_project(args, report=bool(args.verbose))
    for problem in project.problems:
        print(f"devd: warning: {problem}", file=sys.stderr)
    services = project.services
    if args.service is not None:
        if args.service not in services:
            known = ", ".join(services)
            raise ConfigError(f"--service: no service {args.service!r} (services: {known})")
        services = {args.service: services[args.service]}
    views = [(service, service_view(project, service)) for service in services.values()]
    paths = [relative(project.root, Path.cwd() / path) for path in args.paths]
    results = explain.explain(paths, project, views, every_service=args.service is not None)
    if args.json:
        print(json.dumps([result.as_dict() for result in results], indent=2))
    else:
        print(_table(results))
    return 0


def _output(project: config.ProjectConfig) -> Output:
    log.configure(project.log_format, project.verbose)
    json_lines = project.log_format == "json" or (
        project.log_format == "auto" and not sys.stdout.isatty()
    )
    return Output(json_lines, list(project.services))


def cmd_up(args: argparse.Namespace) -> int:
    project = load_project(args, starts=True)
    out = _output(project)
    for warning in project.warnings:
        out.warning(warning)
    if project.inactive:
        out.info(
            INACTIVE,
            services=", ".join(project.inactive),
            profiles=", ".join(dict.fromkeys(p for own in project.inactive.values() for p in own)),
        )
    connected = engine.connect()
    supervisor = Supervisor(
        project,
        connected,
        out,
        loader=lambda: load_project(args, starts=True),
        remote_ports=remote_ports.for_engine(connected, os.environ, out),
    )
    signals = _Signals(supervisor)
    signals.install()
    bindings = {
        "r": keys.Key("r", "rebuild", lambda: supervisor.request_rebuild(no_cache=False)),
        "R": keys.Key(
            "R", "rebuild without cache", lambda: supervisor.request_rebuild(no_cache=True)
        ),
        "s": keys.Key("s", "status", supervisor.status),
        "q": keys.Key("q", "quit", supervisor.request_stop),
    }
    with keys.listening(bindings) as listening:
        if listening:
            out.info("keys: " + keys.legend(bindings))
        return supervisor.run()


class _Signals:
    """Ctrl-C and SIGTERM stop ``devd up``; a second one exits at once. SIGUSR1/SIGUSR2
    (sent by ``devd rebuild``) rebuild without / with the cache."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self.stopping = False

    def install(self) -> None:
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGUSR1, lambda *_: self._rebuild(no_cache=True))
        signal.signal(signal.SIGUSR2, lambda *_: self._rebuild(no_cache=False))

    def _rebuild(self, no_cache: bool) -> None:
        project = self.supervisor.project
        services = take_rebuild_request(state_dir(project.name, project.root))
        self.supervisor.request_rebuild(no_cache, services)

    def _stop(self, signum: int, frame: object) -> None:
        if self.stopping:
            raise KeyboardInterrupt
        self.stopping = True
        self.supervisor.request_stop()


def cmd_build(args: argparse.Namespace) -> int:
    project = load_project(args)
    services = commands.select(project, args.services)
    return commands.build(project, engine.connect(), _output(project), services, args.no_cache)


def cmd_rebuild(args: argparse.Namespace) -> int:
    project = load_project(args, starts=True)
    services = commands.select(project, args.services)
    return commands.rebuild(project, engine.connect(), _output(project), services, args.no_cache)


def cmd_down(args: argparse.Namespace) -> int:
    project = load_project(args)
    return commands.down(project, engine.connect(), _output(project))


def cmd_clean(args: argparse.Namespace) -> int:
    project = load_project(args)
    return commands.clean(project, engine.connect(), _output(project))


def cmd_logs(args: argparse.Namespace) -> int:
    project = load_project(args)
    services = commands.select(project, args.services)
    return commands.logs(project, engine.connect(), _output(project), services, args.follow)


def cmd_doctor(args: argparse.Namespace) -> int:
    project = load_project(args)
    services = commands.select(project, args.services)
    try:
        connected: engine.Engine | None = engine.connect()
    except EngineUnavailable:
        connected = None  # the layer check says it was skipped; the rest needs no engine
    findings = doctor.run_doctor(project, connected, services)
    print(doctor.to_json(findings) if args.json else doctor.render(findings))
    return doctor.exit_code(findings)


def cmd_status(args: argparse.Namespace) -> int:
    project = load_project(args)
    rows = commands.status(project, engine.connect())
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = ("SERVICE", "CONTAINER", "STATE", "IMAGE", "BUILDER", "LAST BUILD")
    table = [header] + [
        (
            str(r["service"]),
            str(r["container"]),
            str(r["state"]),
            str(r["image"] or "-"),
            str(r["builder"] or "-"),
            str(r["last_build"]),
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    for row in table:
        print(
            "  ".join(cell.ljust(w) for cell, w in zip(row[:5], widths, strict=True))
            + "  "
            + row[5]
        )
    pid = rows[0]["devd_up"] if rows else None
    print(f"devd up: running (pid {pid})" if pid else "devd up: not running")
    return 0


def _table(results: Sequence[explain.Row]) -> str:
    """One row per result: path, service ("-" for a note about devd itself), kind, reason."""
    rows = [(r.path or ".", _service(r), str(r.kind), r.reason) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in rows
    )


def _service(row: explain.Row) -> str:
    return "-" if isinstance(row, explain.Note) else row.service


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except DevdError as error:
        print(f"devd: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
