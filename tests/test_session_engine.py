"""devd.engine.session against the real engine: a session opens, the engine syncs the
context through it, and a rebuild under the same shared key moves only what changed."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from devd.engine.session.session import SessionUnavailable, open_session, shared_key
from tests.sessionbuild import build, connect_engine, offer

pytestmark = pytest.mark.engine


def _project(root: Path, busybox: str) -> Path:
    (root / "app").mkdir(parents=True)
    (root / "assets").mkdir()
    (root / "ignored").mkdir()
    (root / "Dockerfile").write_text(
        f"FROM {busybox}\nCOPY . /src\nRUN ls -a /src && cat /src/app/main.txt\n"
    )
    (root / ".dockerignore").write_text("ignored\nDockerfile\n")
    (root / "app" / "main.txt").write_text("version 1\n")
    (root / "assets" / "blob.bin").write_bytes(bytes(range(256)) * 8192)  # 2 MiB
    (root / "ignored" / "huge.bin").write_bytes(b"x" * 100_000)
    return root


def _run(client: Any, image: str, command: str) -> str:
    output = client.containers.run(image, ["sh", "-c", command], remove=True)
    return bytes(output).decode()


def test_a_rebuild_sends_only_the_changed_file(
    engine: Any, docker_client: Any, busybox_image: str, tmp_path: Path, image_tag: str,
    test_labels: dict[str, str],
) -> None:  # fmt: skip
    """The first build sends every file devd's rules keep (not the ignored tree, not the
    Dockerfile into the context); after one save, a build under the same shared key sends
    that file alone — its bytes, nothing else — and the image holds the new text."""
    root = _project(tmp_path / "proj", busybox_image)
    key = shared_key("t" + uuid.uuid4().hex[:8], "app", str(root))
    with open_session(connect_engine, "1.41", name="app", key=key, offer=offer(root)) as first:
        image, output = build(docker_client, first.id, image_tag, test_labels)
    assert image, output
    sent = {path for report in first.reports for path in report.sent_paths}
    assert sent == {"Dockerfile", ".dockerignore", "app/main.txt", "assets/blob.bin"}
    assert sum(r.data_bytes for r in first.reports) > 2 * 2**20

    (root / "app" / "main.txt").write_text("version 2, a little longer\n")
    with open_session(connect_engine, "1.41", name="app", key=key, offer=offer(root)) as again:
        image, output = build(docker_client, again.id, image_tag, test_labels)
    assert image, output
    sent_again = [path for report in again.reports for path in report.sent_paths]
    data_bytes = sum(report.data_bytes for report in again.reports)
    budget = (root / "app" / "main.txt").stat().st_size + (root / "Dockerfile").stat().st_size
    assert sent_again == ["app/main.txt"]
    assert data_bytes <= budget
    assert again.bytes_written < 4096  # the listing, the file, HTTP/2 and gRPC framing
    listing = _run(docker_client, image, "ls -a /src; cat /src/app/main.txt")
    assert "version 2, a little longer" in listing
    assert "ignored" not in listing.split()
    assert "Dockerfile" not in listing.split()  # excluded: only its own source carries it
    assert again.failures == []


def test_the_engine_refusing_a_session_is_one_line(tmp_path: Path, engine: Any) -> None:
    """An upgrade the engine answers with anything but 101 (here: an API version it does
    not have) raises SessionUnavailable with the status line."""
    with pytest.raises(SessionUnavailable, match=r"answered .HTTP/1\.1 400") as caught:
        open_session(connect_engine, "0.1", name="x", key="k", offer=offer(tmp_path))
    assert "\n" not in str(caught.value)
