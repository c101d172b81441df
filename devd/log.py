"""structlog, configured once: readable and coloured on a terminal, JSON lines otherwise."""

from __future__ import annotations

import logging
import string
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from devd.config import LogFormat

# On a terminal, devd's main events read as sentences; JSON output keeps the plain fields.
SENTENCES = {
    "building": "{service}: building for {trigger}",
    "running": (
        "{service}: {trigger} -> {steps}; build {build_s} s, restart {restart_s} s, "
        "save->running {total_s} s"
    ),
    "image unchanged; container kept": (
        "{service}: {trigger} -> {steps}; image unchanged, container kept"
    ),
    "synced": "{service}: {trigger} -> synced {files} file(s) in {sync_s} s, "
    "restart {restart_s} s, save->running {total_s} s",
    "cannot sync; rebuilding instead": "{service}: {error}; rebuilding instead",
    "not synced": "{service}: {path} not synced: {reason}",
    "watching": "watching {root} for services {services}",
    "engine not answering; devd holds work and carries on when it answers": (
        "the engine at {engine} {reason}; devd holds work and carries on when it answers"
    ),
    "stopped": "stopped project {project}",
    "not started: their profiles are not active": (
        "services {services} not started: their profiles ({profiles}) are not active "
        "(COMPOSE_PROFILES or --profile activates them)"
    ),
}
_FORMATTER = string.Formatter()


def sentences(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: render a known event as its sentence, using up its fields."""
    template = SENTENCES.get(str(event_dict.get("event")))
    if template is None:
        return event_dict
    names = {name for _, name, _, _ in _FORMATTER.parse(template) if name}
    if not names <= event_dict.keys():
        return event_dict
    event_dict["event"] = template.format(**event_dict)
    for name in names:
        del event_dict[name]
    event_dict.pop("rebuilt", None)
    return event_dict


def configure(
    log_format: LogFormat = "auto", verbose: bool = False, stream: TextIO | None = None
) -> None:
    """Set up structlog for the whole process; every module then just logs events with fields."""
    stream = stream or sys.stderr
    use_json = log_format == "json" or (log_format == "auto" and not stream.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso" if use_json else "%H:%M:%S", utc=use_json),
            *([] if use_json else [sentences]),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.DEBUG if verbose else logging.INFO
        ),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
