"""devd.context: what the build context archive holds, on real directory trees."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import IO

import pytest
from docker.utils.build import create_archive, exclude_paths
from structlog.testing import capture_logs

from devd.engine.context import GENERATED_DOCKERFILE, ContextArchive, build_context
from devd.errors import BuildContextError

DOCKERFILE = "FROM devd-busybox:latest\nCOPY . /app\n"
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def members(archive: ContextArchive) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=archive.fileobj, mode="r:") as tar:
        found = {member.name: member for member in tar}
    archive.fileobj.seek(0)
    return found


def read_member(archive: ContextArchive, name: str) -> str:
    with tarfile.open(fileobj=archive.fileobj, mode="r:") as tar:
        extracted = tar.extractfile(name)
        assert extracted is not None
        text = extracted.read().decode()
    archive.fileobj.seek(0)
    return text


def regular_files(archive: ContextArchive) -> set[str]:
    return {name for name, member in members(archive).items() if member.isfile()}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    write(
        root,
        {
            "Dockerfile": DOCKERFILE,
            "app.py": "print('hi')\n",
            "req.txt": "requests\n",
            "build.log": "noise\n",
            "keep.log": "wanted\n",
            "node_modules/pkg/index.js": "x\n",
            "src/main.py": "main\n",
            "src/cache/blob.bin": "blob\n",
        },
    )
    return root


def test_excluded_files_and_directories_are_absent(project: Path) -> None:
    """Files and whole directories matched by the patterns are not in the archive; the rest
    is, with directories as entries."""
    with build_context(
        project, project / "Dockerfile", ["*.log", "node_modules", "src/cache"]
    ) as ctx:
        names = set(members(ctx))
    assert {"Dockerfile", "app.py", "req.txt", "src", "src/main.py", ".dockerignore"} <= names
    assert not any(name.startswith(("node_modules", "src/cache")) for name in names)
    assert "build.log" not in names
    assert "keep.log" not in names


def test_negated_pattern_reincludes_a_file(project: Path) -> None:
    """A later ``!pattern`` brings back a file an earlier pattern excluded, also inside an
    excluded directory."""
    excludes = ["*.log", "!keep.log", "node_modules", "!node_modules/pkg/index.js"]
    with build_context(project, project / "Dockerfile", excludes) as ctx:
        files = regular_files(ctx)
    assert "keep.log" in files
    assert "node_modules/pkg/index.js" in files
    assert "build.log" not in files


def test_caller_patterns_list_is_not_mutated(project: Path) -> None:
    """docker-py appends ``!Dockerfile`` to the list it matches with; the caller's must not
    change."""
    excludes = ["*.log"]
    build_context(project, project / "Dockerfile", excludes).close()
    assert excludes == ["*.log"]


def test_excluded_dockerfile_is_still_sent(project: Path) -> None:
    """Like the docker CLI: the engine needs the Dockerfile even when the patterns exclude it;
    the .dockerignore sent still excludes it, so the engine drops it after reading it."""
    with build_context(project, project / "Dockerfile", ["Dockerfile", "*.log"]) as ctx:
        assert ctx.dockerfile == "Dockerfile"
        assert read_member(ctx, "Dockerfile") == DOCKERFILE
        ignore = read_member(ctx, ".dockerignore").splitlines()
    assert ignore[:2] == ["Dockerfile", "*.log"]


def test_dockerfile_in_a_subdirectory_keeps_its_relative_path(project: Path) -> None:
    """A Dockerfile inside the context is named by its path relative to the context, and is
    sent even when its directory is excluded."""
    write(project, {"docker/dev.Dockerfile": DOCKERFILE, "docker/other.txt": "x\n"})
    with build_context(project, project / "docker" / "dev.Dockerfile", ["docker"]) as ctx:
        assert ctx.dockerfile == "docker/dev.Dockerfile"
        files = regular_files(ctx)
    assert "docker/dev.Dockerfile" in files
    assert "docker/other.txt" not in files


def test_dockerfile_outside_the_context_is_added_under_a_generated_name(tmp_path: Path) -> None:
    """An outside Dockerfile's text goes in as .devd.Dockerfile, and the .dockerignore sent
    lists that name so ``COPY . .`` does not copy it."""
    context = tmp_path / "ctx"
    write(context, {"app.py": "print()\n"})
    outside = tmp_path / "docker" / "Dockerfile.dev"
    write(outside.parent, {outside.name: DOCKERFILE})
    with build_context(context, outside, []) as ctx:
        assert ctx.dockerfile == GENERATED_DOCKERFILE
        assert read_member(ctx, GENERATED_DOCKERFILE) == DOCKERFILE
        assert GENERATED_DOCKERFILE in read_member(ctx, ".dockerignore").splitlines()
        assert regular_files(ctx) == {"app.py", GENERATED_DOCKERFILE, ".dockerignore"}


def test_dockerignore_sent_holds_the_callers_patterns(project: Path) -> None:
    """The archive's .dockerignore is the patterns the caller used (not the context's own
    file), so the engine applies the same rules devd did."""
    write(project, {".dockerignore": "# the context's own\nsrc\n"})
    with build_context(project, project / "Dockerfile", ["*.log", "!keep.log"]) as ctx:
        assert read_member(ctx, ".dockerignore") == "*.log\n!keep.log\n"
        assert "src/main.py" in regular_files(ctx)


def test_dockerignore_made_up_by_devd_excludes_itself(project: Path) -> None:
    """When the context has no .dockerignore, the one devd adds lists itself, so the engine
    drops it and the image does not gain a file the project does not have."""
    with build_context(project, project / "Dockerfile", ["*.log"]) as ctx:
        assert read_member(ctx, ".dockerignore") == "*.log\n.dockerignore\n"


def test_size_and_file_count_describe_the_archive(project: Path) -> None:
    """``size`` is the archive's byte length and ``file_count`` its regular files; the file
    object starts at position 0."""
    with build_context(project, project / "Dockerfile", ["*.log", "node_modules"]) as ctx:
        assert ctx.fileobj.tell() == 0
        assert ctx.size == len(ctx.fileobj.read())
        ctx.fileobj.seek(0)
        assert ctx.file_count == len(regular_files(ctx))
    expected = {"Dockerfile", "app.py", "req.txt", "src/main.py", "src/cache/blob.bin"}
    assert ctx.file_count == len(expected | {".dockerignore"})


def test_missing_context_directory_is_a_build_context_error(tmp_path: Path) -> None:
    """A context directory that does not exist is reported, naming it."""
    with pytest.raises(BuildContextError, match="nowhere"):
        build_context(tmp_path / "nowhere", tmp_path / "Dockerfile", [])


def test_missing_dockerfile_is_a_build_context_error(project: Path) -> None:
    """A Dockerfile that does not exist is reported, naming it."""
    with pytest.raises(BuildContextError, match=r"Missing\.Dockerfile"):
        build_context(project, project / "Missing.Dockerfile", [])


def _entries(fileobj: IO[bytes]) -> list[tuple[object, ...]]:
    fileobj.seek(0)
    with tarfile.open(fileobj=fileobj, mode="r:") as tar:
        described = [
            (m.name, m.type, m.mode, m.uid, m.gid, m.uname, m.gname, m.size, int(m.mtime),
             m.linkname, tar.extractfile(m).read() if m.isfile() else None)  # type: ignore[union-attr]
            for m in tar
        ]  # fmt: skip
    fileobj.seek(0)
    return described


def test_the_archive_holds_what_docker_py_would_send(project: Path) -> None:
    """Entry for entry (regular files, directories, symlinks, hard links, a FIFO, long and
    non-ASCII names, modes) the archive is docker-py's ``create_archive``, times cut to
    whole seconds as the docker CLI sends them."""
    write(project, {"x" * 120 + "/deep.txt": "long\n", "naïve/über.py": "u\n"})
    (project / "run.sh").write_text("#!/bin/sh\n")
    (project / "run.sh").chmod(0o755)
    (project / "link").symlink_to("app.py")
    os.link(project / "req.txt", project / "req-hard.txt")
    os.mkfifo(project / "pipe")
    excludes = ["*.log", "node_modules"]
    with build_context(project, project / "Dockerfile", excludes) as ctx:
        ours = _entries(ctx.fileobj)
    files = sorted(exclude_paths(str(project), list(excludes), dockerfile="Dockerfile"))
    extra = [(".dockerignore", "*.log\nnode_modules\n.dockerignore\n")]
    with tempfile.TemporaryFile() as theirs:
        create_archive(root=str(project), files=files, fileobj=theirs, extra_files=extra)
        assert ours == _entries(theirs)


def test_a_rebuild_after_a_save_holds_the_new_content(project: Path) -> None:
    """Headers are reused between builds, content never: a save that keeps the size and the
    second is still seen, and so is one that changes them."""
    with build_context(project, project / "Dockerfile", []) as first:
        assert read_member(first, "app.py") == "print('hi')\n"
    status = os.stat(project / "app.py")
    (project / "app.py").write_text("print('ho')\n")  # same size
    os.utime(project / "app.py", ns=(status.st_atime_ns, status.st_mtime_ns))
    with build_context(project, project / "Dockerfile", []) as second:
        assert read_member(second, "app.py") == "print('ho')\n"
    (project / "app.py").write_text("print('a longer line')\n")
    with build_context(project, project / "Dockerfile", []) as third:
        assert read_member(third, "app.py") == "print('a longer line')\n"
        assert members(third)["app.py"].size == len("print('a longer line')\n")


# --- file-system reality (issue #6): links, odd names, unreadable and huge files -----------------


def test_symlinks_go_in_as_links_whatever_they_point_to(project: Path, tmp_path: Path) -> None:
    """A link outside the context, a dangling one, a loop and a link to a directory are
    entries of type symlink with their target text, as docker-py sends them; nothing is
    read through them."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_text("do not send\n")
    links = {
        "out": str(tmp_path / "outside" / "secret"),
        "outdir": "../outside",
        "dangling": "nowhere",
        "loop-a": "loop-b",
        "loop-b": "loop-a",
        "src/up": "..",
    }
    for name, target in links.items():
        (project / name).symlink_to(target)
    with build_context(project, project / "Dockerfile", []) as archive:
        found = members(archive)
        assert {name: found[name].linkname for name in links} == links
        assert all(found[name].issym() for name in links)
        assert not [name for name in found if name.startswith(("outdir/", "src/up/"))]


def test_odd_names_go_in_unchanged(project: Path) -> None:
    """Spaces, unicode, a newline and an undecodable byte in names: archived as they are."""
    names = ["with space.txt", "ünïcødé-文字.txt", "new\nline.txt"]
    write(project, dict.fromkeys(names, "odd\n"))
    raw = os.path.join(os.fsencode(project), b"latin1-\xe9.txt")
    with open(raw, "wb") as handle:
        handle.write(b"odd\n")
    with build_context(project, project / "Dockerfile", []) as archive:
        assert {*names, "latin1-\udce9.txt"} <= regular_files(archive)
        assert read_member(archive, "new\nline.txt") == "odd\n"


_ARCHIVE_AS_NOBODY = """
import sys
from pathlib import Path
from devd.engine.context import build_context
from devd.errors import BuildContextError
root = Path(sys.argv[1])
try:
    build_context(root, root / "Dockerfile", [])
except BuildContextError as error:
    print(error)
else:
    print("built")
"""


@pytest.mark.parametrize("unreadable", ["secret.txt", "private"])
def test_an_unreadable_file_or_directory_fails_naming_it(unreadable: str) -> None:
    """As an unprivileged user (root reads everything): a file or directory of the context
    that cannot be read fails the context with one line naming it and what to do."""
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        write(root, {"Dockerfile": DOCKERFILE, "app.py": "x\n", "private/key": "k\n"})
        (root / "secret.txt").write_text("s\n")
        for path in [root, *root.rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        os.chmod(root / unreadable, 0o000)
        result = subprocess.run(
            [*NOBODY, sys.executable, "-c", _ARCHIVE_AS_NOBODY, str(root)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
        )
        os.chmod(root / unreadable, 0o755)
    assert result.returncode == 0, result.stderr
    message = result.stdout.strip()
    assert message == (
        f"cannot read {unreadable} in the build context {root} (permission denied); "
        "fix its permissions or add it to .dockerignore"
    )


def test_a_huge_file_is_streamed_and_warned_about_once(project: Path) -> None:
    """A sparse 1 GiB file: archived whole without being held in memory, and warned about
    (size, path, .dockerignore) at the first context only, again only if its size changes."""
    huge = project / "data" / "huge.bin"
    huge.parent.mkdir()
    with open(huge, "wb") as handle:
        handle.truncate(2**30)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with capture_logs() as logs:
        for _ in range(2):
            with build_context(project, project / "Dockerfile", []) as archive:
                assert archive.size > 2**30
                assert members(archive)["data/huge.bin"].size == 2**30
        with open(huge, "ab") as handle:
            handle.write(b"more")
        build_context(project, project / "Dockerfile", []).close()
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 200 * 1024
    warnings = [e for e in logs if e["log_level"] == "warning"]
    assert [e["bytes"] for e in warnings] == [2**30, 2**30 + 4]
    assert "1024 MiB" in warnings[0]["event"]
    assert str(huge) in warnings[0]["event"]
    assert "add it to .dockerignore" in warnings[0]["event"]
