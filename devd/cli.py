"""The ``devd`` command line. The only place that prints errors and chooses exit codes.

Exit codes: 0 success; 1 a command that ran and failed (e.g. a build); 2 bad input — invalid
configuration, an unreadable Dockerfile, an engine that does not answer, wrong arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from devd import __version__, config
from devd.classify import Classification, classify
from devd.errors import ConfigError, DevdError
from devd.project import build_view, relative

EXIT_USAGE = 2


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
    parser.add_argument("-v", "--verbose", action="store_true", default=None, help="more output")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    explain = commands.add_parser(
        "explain",
        help="say what a change to each PATH means for each service's image",
        description=(
            "Classify each PATH for each service as dockerfile, dependency, code or ignored, "
            "with the Dockerfile line, ignore pattern or RUN step behind the answer. "
            "PATH may name a file that does not exist (yet)."
        ),
    )
    explain.add_argument(
        "paths", nargs="+", metavar="PATH", help="relative to the current directory"
    )
    explain.add_argument("--json", action="store_true", help="print a JSON list of objects")
    explain.add_argument("--service", metavar="NAME", help="only this service")
    explain.set_defaults(handler=cmd_explain)
    return parser


def load_project(args: argparse.Namespace) -> config.ProjectConfig:
    overrides: dict[str, Any] = {"log_format": args.log_format, "verbose": args.verbose}
    return config.load(args.project_dir or Path.cwd(), overrides)


def cmd_explain(args: argparse.Namespace) -> int:
    project = load_project(args)
    services = project.services
    if args.service is not None:
        if args.service not in services:
            known = ", ".join(services)
            raise ConfigError(f"--service: no service {args.service!r} (services: {known})")
        services = {args.service: services[args.service]}
    views = [build_view(project, service) for service in services.values()]
    paths = [relative(project.root, Path.cwd() / path) for path in args.paths]
    results = [classify(path, view) for path in paths for view in views]
    if args.json:
        print(json.dumps([result.as_dict() for result in results], indent=2))
    else:
        print(_table(results))
    return 0


def _table(results: Sequence[Classification]) -> str:
    rows = [(r.path or ".", r.service, str(r.kind), r.reason) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in rows
    )


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
