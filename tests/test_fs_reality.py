"""File-system reality and bad image names, end to end: a real ``devd up`` on the busybox
sample project (tests/updriver.py), the real engine, real editors' save sequences, real git.

Each test says what devd must do: build the final state a bounded number of times, never
lose a change, name what it cannot read, and keep the previous container serving when the
new state cannot be built.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from tests.conftest import remove_project, running_containers
from tests.updriver import (
    SAMPLE_DOCKERFILE,
    Sample,
    UpProcess,
    fetch,
    free_port,
    run_devd,
    served,
    wait_for,
)

pytestmark = pytest.mark.engine


def in_container(client: Any, sample: Sample, script: str) -> str:
    """What ``sh -c script`` prints in the sample's running container ("" while it is being
    replaced)."""
    try:
        [container] = running_containers(client, sample.name)
        code, output = container.exec_run(["sh", "-c", script])
    except (ValueError, docker.errors.APIError):
        return ""
    return str(output.decode()) if code == 0 else ""


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True,
        capture_output=True,
    )


def builds(up: UpProcess) -> int:
    return len(up.named("building"))


def test_a_vim_save_builds_once_and_serves_the_final_content(sample: Sample, up: UpProcess) -> None:
    """vim's save (swap, 4913 probe, backup rename, write, delete backup) is one build of
    the final content; the probe and swap files alone build nothing."""
    served(sample.port, "version-1")
    www = sample.root / "www"
    (www / "4913").write_text("")
    (www / "4913").unlink()
    (www / ".index.html.swp").write_text("swap")
    time.sleep(1.0)
    assert builds(up) == 1, up.summary()
    os.rename(www / "index.html", www / "index.html~")
    (www / "index.html").write_text("saved-by-vim\n")
    (www / "index.html~").unlink()
    served(sample.port, "saved-by-vim")
    time.sleep(1.0)
    assert builds(up) == 2, up.summary()


def test_git_checkout_of_thousands_of_files_builds_a_few_times_and_serves_the_end(
    sample: Sample,
) -> None:
    """Switching to a branch that changes 2,000 files: a bounded number of builds (the
    first batch and at most one folded follow-up, or a couple more), ending on the branch's
    content."""
    git(sample.root, "init", "-q", "-b", "main")
    git(sample.root, "add", "-A")
    git(sample.root, "commit", "-q", "-m", "one")
    git(sample.root, "checkout", "-q", "-b", "big")
    for number in range(2000):
        page = sample.root / "www" / "pages" / f"p{number % 40}" / f"{number}.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(f"{number}\n")
    sample.write("www/index.html", "branch-big\n")
    git(sample.root, "add", "-A")
    git(sample.root, "commit", "-q", "-m", "big")
    git(sample.root, "checkout", "-q", "main")
    up = UpProcess(sample.root)
    try:
        served(sample.port, "version-1")
        git(sample.root, "checkout", "-q", "big")
        served(sample.port, "branch-big", timeout=60)
        time.sleep(2.0)
        assert 2 <= builds(up) <= 4, up.summary()
        assert fetch(sample.port, "/pages/p7/1007.html") == "1007\n"
        git(sample.root, "checkout", "-q", "main")
        served(sample.port, "version-1", timeout=60)
        assert fetch(sample.port, "/pages/p7/1007.html") is None
    finally:
        assert up.stop() == 0


ODD_NAMES = ["with space.html", "ünïcødé-文字.html", "new\nline.html"]


@pytest.mark.parametrize("code_action", ["rebuild", "sync"])
def test_odd_names_reach_the_container(
    tmp_path: Path, test_id: str, docker_client: Any, busybox_image: str, code_action: str
) -> None:
    """Files named with spaces, unicode and a newline are watched, classified, sent in the
    build context or synced, and land in the container under their names."""
    sample = Sample(tmp_path / "proj", f"t{test_id}", free_port(), code_action=code_action)
    up = UpProcess(sample.root)
    try:
        served(sample.port, "version-1")
        for name in ODD_NAMES:
            sample.write(f"www/{name}", "odd\n")
        checks = " && ".join(
            "test -f \"$(printf '/app/www/{}')\"".format(name.replace("\n", "\\n"))
            for name in ODD_NAMES
        )
        wait_for(
            lambda: in_container(docker_client, sample, f"{checks} && echo ok || :") == "ok\n",
            60,
            f"{ODD_NAMES} in the container ({up.summary()})",
            interval=0.5,
        )
        # devd says so just after the engine has the files: wait for the line, don't race it
        up.wait_event("synced" if code_action == "sync" else "running", timeout=10)
    finally:
        assert up.stop() == 0
        remove_project(docker_client, sample.name)


def test_symlinks_in_the_context_reach_the_image_as_links(
    sample: Sample, docker_client: Any, tmp_path: Path
) -> None:
    """Links in a copied directory (to a file outside the project, dangling, a loop) build,
    and the image holds them as links: nothing outside the context is read."""
    (tmp_path / "outside.txt").write_text("host secret\n")
    www = sample.root / "www"
    (www / "out").symlink_to(tmp_path / "outside.txt")
    (www / "dangling").symlink_to("nowhere")
    (www / "loop-a").symlink_to("loop-b")
    (www / "loop-b").symlink_to("loop-a")
    up = UpProcess(sample.root)
    try:
        served(sample.port, "version-1")
        links = in_container(
            docker_client, sample, "for l in out dangling loop-a; do readlink /app/www/$l; done"
        )
        assert links.split() == [str(tmp_path / "outside.txt"), "nowhere", "loop-b"]
        assert "host secret" not in in_container(docker_client, sample, "cat /app/www/out || :")
    finally:
        assert up.stop() == 0


@pytest.mark.parametrize("builder", ["classic", "buildkit"])
def test_a_huge_file_in_the_context_is_warned_about_once(sample: Sample, builder: str) -> None:
    """A sparse 1 GiB file that no COPY reads: its appearance builds nothing. Under the
    classic builder the next builds carry it (it is sent the whole context) and devd says so
    once, with its size, path and what to do; through BuildKit's session it goes once, the
    next save sends what changed (bytes, not the gigabyte), and there is nothing to warn
    about."""
    up = UpProcess(sample.root, environ={"DEVD_BUILDER": builder})
    try:
        served(sample.port, "version-1")
        huge = sample.root / "data" / "huge.bin"
        huge.parent.mkdir()
        with open(huge, "wb") as handle:
            handle.truncate(2**30)
        time.sleep(1.0)
        assert builds(up) == 1
        sample.write("www/index.html", "with-huge-1\n")
        served(sample.port, "with-huge-1", timeout=120)
        sample.write("www/index.html", "with-huge-2\n")
        served(sample.port, "with-huge-2", timeout=120)
        warnings = [e for e in up.events if "huge.bin" in str(e.get("event"))]
        if builder == "buildkit":
            assert warnings == [], up.summary()
            last = [e for e in up.events if e.get("event") == "running"][-1]
            assert last["file_bytes"] < 1024, last  # the saves, not the gigabyte
            return
        assert len(warnings) == 1, up.summary()
        assert "1024 MiB" in warnings[0]["event"]
        assert "add it to .dockerignore" in warnings[0]["event"]
    finally:
        assert up.stop() == 0


def test_a_dockerfile_saved_with_an_invalid_image_name_keeps_the_container(
    sample: Sample, up: UpProcess
) -> None:
    """``FROM Bad:Name`` saved while devd up runs: one message naming the Dockerfile line
    and the value; the old container serves; fixing it builds again."""
    served(sample.port, "version-1")
    sample.write("Dockerfile", SAMPLE_DOCKERFILE.replace("FROM ${BASE}", "FROM Bad:Name"))
    event = up.wait_event("definition invalid; keeping the running container")
    assert "Dockerfile:2: FROM Bad:Name: 'Bad:Name' is not a valid image name" in event["error"]
    assert "lowercase" in event["error"]
    time.sleep(0.5)
    assert "version-1" in (fetch(sample.port) or "")
    sample.write("Dockerfile", SAMPLE_DOCKERFILE)
    sample.write("www/index.html", "fixed\n")
    served(sample.port, "fixed")


def test_an_invalid_image_name_from_a_build_arg_is_exit_2(sample: Sample) -> None:
    """A build arg that makes FROM an invalid image: one line naming the Dockerfile line, the
    value and the ARG, exit 2, before anything is built."""
    config = (sample.root / "devd.toml").read_text().replace("devd-busybox:latest", "Bad:Name")
    sample.write("devd.toml", config)
    result = run_devd(sample.root, "up", timeout=60)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("devd: ")]
    assert errors == [
        "devd: Dockerfile:2: FROM ${BASE}: 'Bad:Name' (from ${BASE}) is not a valid image "
        "name: repository name must be lowercase; expected an image such as "
        "'python:3.11-slim' or a stage named by an earlier FROM ... AS"
    ]


def _too_deep(top: Path) -> Path:
    """A directory whose path is longer than the kernel takes (PATH_MAX): even root gets
    ENAMETOOLONG reading it by name. Made step by step, relative to each parent."""
    name = "d" * 250
    os.mkdir(top)
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(18):
            os.mkdir(name, dir_fd=fd)
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
        with open(os.open("leaf.html", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as f:
            f.write("deep\n")
    finally:
        os.close(fd)
    return top


def test_a_context_devd_cannot_read_fails_the_build_naming_it_and_keeps_the_container(
    sample: Sample, up: UpProcess
) -> None:
    """A directory in the context that cannot be read (here: its path is too long for the
    kernel, which stops root too): the watcher names it once and goes on, the build fails
    naming it, the old container serves; removing it recovers."""
    served(sample.port, "version-1")
    deep = _too_deep(sample.root / "www" / "deep")
    failed = up.wait_event("build failed; previous container still running", timeout=60)
    assert "cannot read www/deep/" in failed["error"]
    assert "file name too long" in failed["error"]
    assert "add it to .dockerignore" in failed["error"]
    assert "version-1" in (fetch(sample.port) or "")
    watch_warnings = [e for e in up.events if str(e.get("event")).startswith("cannot watch")]
    assert watch_warnings, up.summary()
    subprocess.run(["rm", "-rf", str(deep)], check=True)
    sample.write("www/index.html", "readable-again\n")
    served(sample.port, "readable-again")


_LIMIT_WATCHES = """
import ctypes, errno, os
from devd import inotify
libc = inotify._load_libc()
real, left = libc.add_watch, [int(os.environ["DEVD_TEST_WATCHES"])]
def add_watch(fd, path, mask):
    if left[0] <= 0:
        ctypes.set_errno(errno.ENOSPC)
        return -1
    left[0] -= 1
    return real(fd, path, mask)
libc.add_watch = add_watch
"""


def test_at_the_inotify_watch_limit_devd_up_says_so_and_keeps_serving_saves(
    sample: Sample, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel refuses the second watch (as at fs.inotify.max_user_watches; injected into
    the devd process, since the real limit is shared): one warning naming the limit and the
    polling, and saves are still built and served."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(_LIMIT_WATCHES)
    monkeypatch.setenv("PYTHONPATH", f"{hook}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    monkeypatch.setenv("DEVD_TEST_WATCHES", "1")
    up = UpProcess(sample.root)
    try:
        served(sample.port, "version-1")
        sample.write("www/index.html", "polled-1\n")
        served(sample.port, "polled-1")
        sample.write("www/index.html", "polled-2\n")
        served(sample.port, "polled-2")
        warnings = [e for e in up.events if "max_user_watches" in str(e.get("event"))]
        assert len(warnings) == 1, up.summary()
        assert "devd polls the tree every 1 s" in warnings[0]["event"]
    finally:
        assert up.stop() == 0
