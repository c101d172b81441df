"""Helpers for tests that build through a BuildKit session against the real engine."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from devd.core.buildkit_trace import TRACE_ID, decode_aux
from devd.core.ignore import IgnoreRules, parse_patterns
from devd.engine.session.filesync import SyncedDir
from devd.engine.session.services import Attachments

DOCKER_SOCKET = "/var/run/docker.sock"


def connect_engine() -> socket.socket:
    """A new connection to the engine's unix socket."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(10)
    conn.connect(DOCKER_SOCKET)
    return conn


def context_dirs(root: Path, dockerfile: str = "Dockerfile") -> dict[str, SyncedDir]:
    """The two sources of a build: the context with its .dockerignore's rules, and the
    Dockerfile alone."""
    ignore = root / ".dockerignore"
    rules = IgnoreRules(parse_patterns(ignore.read_text()) if ignore.is_file() else ())
    return {
        "context": SyncedDir(root, rules),
        "dockerfile": SyncedDir(root, only=frozenset({dockerfile})),
    }


def offer(root: Path, **extra: Any) -> Attachments:
    return Attachments(dirs=context_dirs(root), **extra)


def build(client: Any, session_id: str, tag: str, labels: dict[str, str]) -> tuple[str, str]:
    """``POST /build?version=2`` through the session: (the image id or "", the output and
    errors as text)."""
    api = client.api
    params = {
        "version": "2",
        "session": session_id,
        "remote": "client-session",
        "dockerfile": "Dockerfile",
        "t": tag,
        "labels": json.dumps(labels),
    }
    response = api._post(api._url("/build"), params=params, stream=True, timeout=300)
    api._raise_for_status(response)
    image, text = "", []
    for chunk in api._stream_helper(response, decode=True):
        if chunk.get("id") == TRACE_ID:
            status = decode_aux(chunk["aux"])
            text += [log.data.decode("utf-8", "replace") for log in status.logs]
            text += [f"ERROR {v.name}: {v.error}\n" for v in status.vertexes if v.error]
        elif chunk.get("id") == "moby.image.id":
            image = str(chunk["aux"]["ID"])
        elif "error" in chunk:
            text.append(f"ERROR {chunk['error']}\n")
    return image, "".join(text)
