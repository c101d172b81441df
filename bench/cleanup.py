"""Removing what a benchmark run made: containers, images and compose projects.

Every name starts with :data:`PREFIX`; devd's objects carry ``devd.project=<name>`` (its
anchors ``devd.anchor.project=<name>``, its images ``devd.image=<name>/<service>``), the
floor's and compose's images ``devd.bench=<run id>``, compose's containers and networks
``com.docker.compose.project=<name>``. Nothing else is touched.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from typing import Any

import docker.errors

PREFIX = "devdbench"
COMPOSE_LABEL = "com.docker.compose.project"


def _devd_project(labels: dict[str, str]) -> str:
    """The devd project a container, anchor or image belongs to ("" if none)."""
    project = labels.get("devd.project") or labels.get("devd.anchor.project")
    return project or labels.get("devd.image", "").split("/")[0]


def _ours(labels: dict[str, str] | None) -> bool:
    labels = labels or {}
    return (
        _devd_project(labels).startswith(PREFIX)
        or labels.get(COMPOSE_LABEL, "").startswith(PREFIX)
        or "devd.bench" in labels
    )


def remove_everything(client: Any, run_id: str | None = None, timeout: float = 120) -> int:
    """Remove the containers, compose networks and images of benchmark runs (of ``run_id``
    only, or of any run: leftovers of one that was killed). Returns how many objects went."""
    removed = 0
    for summary in client.api.containers(all=True):
        labels = summary.get("Labels") or {}
        if _ours(labels) and _this_run(labels, run_id, summary.get("Names")):
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                client.api.remove_container(summary["Id"], force=True, v=True)
                removed += 1
    for network in client.api.networks(filters={"label": COMPOSE_LABEL}):
        if (network.get("Labels") or {}).get(COMPOSE_LABEL, "").startswith(_prefix(run_id)):
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                client.api.remove_network(network["Id"])
                removed += 1
    pending = [
        image["Id"]
        for image in client.api.images(all=True)
        if _ours(image.get("Labels")) and _this_run(image.get("Labels") or {}, run_id, None)
    ]
    deadline = time.monotonic() + timeout
    # An image with children built on it is refused until they are gone: retry in rounds.
    while pending and time.monotonic() < deadline:
        refused = []
        for image_id in pending:
            try:
                client.api.remove_image(image_id, force=True)
                removed += 1
            except docker.errors.NotFound:
                continue
            except docker.errors.APIError:
                refused.append(image_id)
        if len(refused) == len(pending):
            break
        pending = refused
    return removed


def _prefix(run_id: str | None) -> str:
    return PREFIX + (run_id or "")


def _this_run(labels: dict[str, str], run_id: str | None, names: list[str] | None) -> bool:
    if run_id is None:
        return True
    wanted = _prefix(run_id)
    return (
        labels.get("devd.bench") == run_id
        or _devd_project(labels).startswith(wanted)
        or labels.get(COMPOSE_LABEL, "").startswith(wanted)
        or any(name.lstrip("/").startswith(wanted) for name in names or ())
    )


def compose_down(project: str, directory: str) -> None:
    subprocess.run(
        [
            "docker",
            "compose",
            "-p",
            project,
            "--project-directory",
            directory,
            "down",
            "--rmi",
            "all",
            "-v",
            "--remove-orphans",
            "-t",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
