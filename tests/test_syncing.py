"""devd.syncing end to end: a real ``devd up`` with ``code_action = "sync"`` on the busybox
sample project (tests/updriver.py), the real engine, real links and permissions.

What is pinned: a sync never writes through a link the container holds (it is refused in one
line and the service is rebuilt instead), a file devd cannot read is skipped in one line while
the rest of its batch syncs, each such line is said once, and later saves sync again.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from devd.daemon.follow import ANCHOR_STOPPED, REMOVED
from tests.conftest import remove_project, running_containers
from tests.updriver import Sample, UpProcess, fetch, free_port, served, wait_for

pytestmark = pytest.mark.engine

REFUSED = "cannot sync; rebuilding instead"
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


@pytest.mark.parametrize("target", ["/etc", "/no/such/dir"])
def test_a_synced_link_replaced_by_a_directory_is_never_written_through(
    sync_sample: Sample, docker_client: Any, target: str
) -> None:
    """A link synced into the container (www/cfg -> /etc, or to a directory the container
    lacks), then replaced on the host by a directory holding a file: devd refuses to write
    through the container's link, in one line naming it, and rebuilds instead. The container
    then has a real directory with the file, its /etc is untouched, and later saves sync."""
    sample, www = sync_sample, sync_sample.root / "www"
    up = UpProcess(sample.root)
    try:
        wait_in_container(docker_client, sample, "cat /app/www/index.html", "version-1")
        (www / "cfg").symlink_to(target)
        wait_in_container(docker_client, sample, "readlink /app/www/cfg", target)
        (www / "cfg").unlink()
        (www / "cfg").mkdir()
        (www / "cfg" / "motd").write_text(f"X {sample.name}\n")
        refused = up.wait_event(REFUSED, timeout=30)
        assert "/app/www/cfg" in refused["error"], refused
        assert target in refused["error"], refused
        check = "test -d /app/www/cfg && ! test -L /app/www/cfg && cat /app/www/cfg/motd"
        wait_in_container(docker_client, sample, check, f"X {sample.name}")
        assert f"X {sample.name}" not in (in_container(docker_client, sample, "cat /etc/*") or "")
        sample.write("www/index.html", "after the link\n")
        wait_in_container(docker_client, sample, "cat /app/www/index.html", "after the link")
        up.wait_event("synced", trigger="www/index.html (code)")
        assert len(up.named(REFUSED)) == 1, up.summary()
        assert not up.named("failed"), up.summary()
    finally:
        up.kill()


def test_a_sync_the_engine_fails_is_said_once_and_rebuilt_and_later_saves_sync(
    sync_sample: Sample, docker_client: Any
) -> None:
    """The app made a file where the host now has a directory (www/cfg): the engine cannot
    unpack www/cfg/motd under it. That is one line, the service is rebuilt instead, and
    the saves after it sync again (before, every later sync failed the same way, twice)."""
    sample = sync_sample
    up = UpProcess(sample.root)
    try:
        wait_in_container(docker_client, sample, "cat /app/www/index.html", "version-1")
        assert in_container(docker_client, sample, "echo app-made > /app/www/cfg") == ""
        sample.write("www/cfg/motd", "from the host\n")
        failed = up.wait_event(REFUSED, timeout=30)
        assert "not a directory" in failed["error"], failed
        check = "test -d /app/www/cfg && cat /app/www/cfg/motd"
        wait_in_container(docker_client, sample, check, "from the host")
        for save in ("save-1", "save-2"):
            sample.write("www/index.html", f"{save}\n")
            wait_in_container(docker_client, sample, "cat /app/www/index.html", save)
        assert len(up.named(REFUSED)) == 1, up.summary()
        assert not up.named("failed"), up.summary()
    finally:
        up.kill()


def test_the_rebuild_instead_replaces_the_container_even_when_the_image_is_the_same(
    sync_sample: Sample, docker_client: Any
) -> None:
    """www/cfg/motd is in the image; the directory is swapped for a link (synced), then put
    back as it was. The rebuild after the refusal makes the very image the container runs,
    and the container is replaced all the same: the link was in the container only."""
    sample, cfg = sync_sample, sync_sample.root / "www" / "cfg"
    sample.write("www/cfg/motd", "as built\n")
    up = UpProcess(sample.root)
    try:
        wait_in_container(docker_client, sample, "cat /app/www/cfg/motd", "as built")
        [before] = running_containers(docker_client, sample.name)
        shutil.rmtree(cfg)
        cfg.symlink_to("/etc")
        wait_in_container(docker_client, sample, "readlink /app/www/cfg", "/etc")
        cfg.unlink()
        sample.write("www/cfg/motd", "as built\n")
        up.wait_event(REFUSED, timeout=30)
        check = "test -d /app/www/cfg && ! test -L /app/www/cfg && cat /app/www/cfg/motd"
        wait_in_container(docker_client, sample, check, "as built")
        [after] = running_containers(docker_client, sample.name)
        assert after.id != before.id
        assert after.image.id == before.image.id  # the same image: only recreate replaced it
        assert not up.named("image unchanged; container kept"), up.summary()
    finally:
        up.kill()


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_an_unreadable_file_is_skipped_once_and_the_rest_of_the_batch_syncs(
    sync_sample: Sample, docker_client: Any
) -> None:
    """A file devd cannot read (mode 000; devd runs without the capabilities that let root
    read anything) is named in one line, once, not once per save; the saved files beside it,
    in the same batch and in later ones, reach the container; made readable, it syncs."""
    sample, locked = sync_sample, sync_sample.root / "www" / "locked.txt"
    sample.write("www/locked.txt", "readable at first\n")
    up = UpProcess(sample.root, wrapper=WITHOUT_READ_OVERRIDE)
    try:
        wait_in_container(docker_client, sample, "cat /app/www/locked.txt", "readable at first")
        hidden = sample.root.parent / "locked.new"  # outside the project: not watched
        hidden.write_text("unlocked later\n")
        hidden.chmod(0)
        hidden.replace(locked)  # one event: the file is new content that cannot be read
        sample.write("www/index.html", "save-1\n")
        wait_in_container(docker_client, sample, "cat /app/www/index.html", "save-1")
        skipped = up.wait_event(SKIPPED, timeout=30)
        assert skipped["path"] == "www/locked.txt", skipped
        assert "Permission denied" in skipped["reason"], skipped
        for save in ("save-2", "save-3"):
            sample.write("www/index.html", f"{save}\n")
            wait_in_container(docker_client, sample, "cat /app/www/index.html", save)
        assert len(up.named(SKIPPED)) == 1, up.summary()
        locked.chmod(0o644)
        wait_in_container(docker_client, sample, "cat /app/www/locked.txt", "unlocked later")
        assert len(up.named(SKIPPED)) == 1, up.summary()
        assert not up.named("failed"), up.summary()
        assert not up.named(REFUSED), up.summary()
    finally:
        up.kill()


def anchor_of(client: Any, sample: Sample) -> Any:
    """The sample service's anchor container (devd.anchors)."""
    [anchor] = client.containers.list(
        all=True, filters={"label": f"devd.anchor.project={sample.name}"}
    )
    return anchor


def test_a_container_removed_by_hand_is_put_right_by_the_next_save(
    sync_sample: Sample, docker_client: Any
) -> None:
    """``docker rm -f`` of the service's container, then a save: the sync cannot be made,
    which is one line, and the service is put right instead (a new container from the
    current image, joining the anchor), serving the save on its port; later saves sync
    again. Nothing is said twice per save, nothing reported failed."""
    sample = sync_sample
    up = UpProcess(sample.root)
    try:
        served(sample.port, "version-1")
        [before] = running_containers(docker_client, sample.name)
        before.remove(force=True)
        sample.write("www/index.html", "after rm\n")
        served(sample.port, "after rm")
        [after] = running_containers(docker_client, sample.name)
        assert after.id != before.id
        removed = up.wait_event(REMOVED, timeout=10)  # said when it went, not at the save
        assert removed["container"] == before.id[:12], removed
        sample.write("www/index.html", "synced again\n")  # served from /app/www: see SAMPLE
        wait_in_container(docker_client, sample, "cat /app/www/index.html", "synced again")
        up.wait_event("synced", trigger="www/index.html (code)")
        assert len(up.named(REFUSED)) <= 1, up.summary()
        assert len(up.named(REMOVED)) == 1, up.summary()
        assert not up.named("failed"), up.summary()
        assert not up.named("lost the container's output"), up.summary()
    finally:
        up.kill()


def test_a_stopped_anchor_is_reported_at_once_and_the_next_save_puts_it_right(
    sync_sample: Sample, docker_client: Any
) -> None:
    """``docker stop`` of the service's anchor while devd up is idle: the engine's event has
    devd say so in one line naming the service and the anchor, without waiting for a save.
    The next save does not claim a sync into an unreachable container: the anchor is started
    and the container recreated from the current image, then serving the save on its port;
    later saves sync again."""
    sample = sync_sample
    up = UpProcess(sample.root)
    try:
        served(sample.port, "version-1")
        anchor = anchor_of(docker_client, sample)
        anchor.stop(timeout=0)
        stopped = up.wait_event(ANCHOR_STOPPED, timeout=10)
        assert stopped["service"] == "app", stopped
        assert stopped["anchor"] == f"{sample.name}-app.anchor", stopped
        assert fetch(sample.port) is None  # nothing answers: what devd just said
        sample.write("www/index.html", "after the anchor\n")
        served(sample.port, "after the anchor")
        names = [e["event"] for e in up.events if e["event"] in ("synced", "running")]
        assert names[:2] == ["running", "running"], names  # no sync claimed before it is right
        assert anchor_of(docker_client, sample).id == anchor.id  # started again, not made anew
        sample.write("www/index.html", "synced again\n")
        wait_in_container(docker_client, sample, "cat /app/www/index.html", "synced again")
        up.wait_event("synced", trigger="www/index.html (code)")
        assert len(up.named(ANCHOR_STOPPED)) == 1, up.summary()
        assert not up.named("failed"), up.summary()
    finally:
        up.kill()
