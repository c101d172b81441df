"""devd.syncing end to end: a real ``devd up`` with ``code_action = "sync"`` on the busybox
sample project (tests/updriver.py), the real engine, real permissions.

What is pinned: a file devd cannot read is skipped in one line while the rest of its batch
syncs, that line is said once, and later saves sync again.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from tests.conftest import remove_project, running_containers
from tests.updriver import Sample, UpProcess, free_port, wait_for

pytestmark = pytest.mark.engine

SKIPPED = "not synced"
# devd up without the two capabilities that let root read any file: a mode-000 file is then
# unreadable to it, as to any developer who is not root (the kernel's own permission check).
WITHOUT_READ_OVERRIDE = [
    "setpriv",
    "--bounding-set=-dac_override,-dac_read_search",
    "--inh-caps=-dac_override,-dac_read_search",
]


@pytest.fixture
def sync_sample(
    tmp_path: Path, test_id: str, docker_client: Any, busybox_image: str
) -> Iterator[Sample]:
    """The sample project with ``code_action = "sync"``, removed with all it made afterwards."""
    project = Sample(tmp_path / "proj", f"t{test_id}", free_port(), code_action="sync")
    yield project
    remove_project(docker_client, project.name)


def in_container(client: Any, sample: Sample, script: str) -> str | None:
    """What ``sh -c script`` prints in the sample's one running container; None while there
    is not exactly one (it is being replaced) or the script fails."""
    try:
        [container] = running_containers(client, sample.name)
        code, output = container.exec_run(["sh", "-c", script])
    except (ValueError, docker.errors.APIError):
        return None
    return str(output.decode()) if code == 0 else None


def wait_in_container(client: Any, sample: Sample, script: str, expected: str) -> str:
    """Wait until ``script``'s output in the container contains ``expected``."""
    found: str = wait_for(
        lambda: expected in (out := in_container(client, sample, script) or "") and out,
        30,
        f"{expected!r} from {script!r} in the container",
    )
    return found


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_an_unreadable_file_is_skipped_once_and_the_rest_of_the_batch_syncs(
    sync_sample: Sample, docker_client: Any
) -> None:
    """A file devd cannot read (mode 000; devd runs without the capabilities that let root
    read anything) is named in one line, once, not once per save; the saved files beside it,
    in the same batch and in later ones, reach the container."""
    sample, locked = sync_sample, sync_sample.root / "www" / "locked.txt"
    sample.write("www/locked.txt", "readable at first\n")
    up = UpProcess(sample.root, wrapper=WITHOUT_READ_OVERRIDE)
    try:
        wait_in_container(docker_client, sample, "cat /app/www/locked.txt", "readable at first")
        locked.chmod(0)
        sample.write("www/index.html", "save-1\n")
        wait_in_container(docker_client, sample, "cat /app/www/index.html", "save-1")
        skipped = up.wait_event(SKIPPED, timeout=30)
        assert skipped["path"] == "www/locked.txt", skipped
        assert "Permission denied" in skipped["reason"], skipped
        for save in ("save-2", "save-3"):
            sample.write("www/index.html", f"{save}\n")
            wait_in_container(docker_client, sample, "cat /app/www/index.html", save)
        assert len(up.named(SKIPPED)) == 1, up.summary()
        assert not up.named("failed"), up.summary()
    finally:
        up.kill()
