"""The soak: an hour of editing compressed into minutes against a real ``devd up``.

A seeded script (tests/soakdriver.py) saves code, dependencies, the Dockerfile and ignored
files, alone and in bursts, with pauses, and injects faults that are then fixed: a RUN that
fails, a Dockerfile step that fails, a Dockerfile devd cannot read, an app that exits at
start, a container killed from outside. At the end devd must serve the last saved state from
exactly one container, hold no more memory, file descriptors or threads than after warm-up
(within the tolerances below), and have left exactly one image generation: no dangling
image, labelled or not, from any build it ran.

CI runs ``DEVD_SOAK_EPISODES`` (default 100) episodes, about 3000 saves in two and a half
minutes on two cores; a longer soak is the same test with more episodes. ``-s`` prints the
figures, ``DEVD_SOAK_REPORT=FILE`` writes them as JSON (with RSS/fds/threads at each settle):

    DEVD_SOAK_EPISODES=700 DEVD_SOAK_SEED=7 pytest tests/test_soak.py -s
"""

from __future__ import annotations

import json
import os
import random
import time
from typing import Any

import pytest

from tests.conftest import project_images, remove_images, remove_project
from tests.soakdriver import FAULTS, SOAK_DOCKERFILE, Resources, Soak, script, soak_layers
from tests.updriver import Sample, UpProcess, wait_for

pytestmark = pytest.mark.engine

EPISODES = int(os.environ.get("DEVD_SOAK_EPISODES", "100"))
SEED = int(os.environ.get("DEVD_SOAK_SEED", "20261127"))
WARM_UP = max(10, EPISODES // 5)  # episodes played before the first measurement
RSS_TOLERANCE_KIB = 6 * 1024  # growth allowed after warm-up: CI runs grow ~1-2 MB (allocator)
FD_TOLERANCE = 2  # e.g. a pooled connection to the engine opened late
THREAD_TOLERANCE = 0  # one worker, one watcher, one log follower: exactly as after warm-up


def test_script_is_seeded_and_mixes_every_kind() -> None:
    """A seed names one session exactly, and a CI-sized session holds saves of every class
    and every kind of fault."""
    assert script(SEED, EPISODES) == script(SEED, EPISODES)
    assert script(SEED, EPISODES) != script(SEED + 1, EPISODES)
    kinds = {episode.kind for episode in script(SEED, EPISODES)}
    assert {"code", "burst", "ignored", "dependency", "dockerfile", *FAULTS} <= kinds


@pytest.mark.timeout(120 + 6 * EPISODES)
def test_soak_ends_served_flat_and_with_one_generation(
    sample: Sample, docker_client: Any, busybox_image: str
) -> None:
    """After thousands of mixed saves and every injected fault: the last saved state is served
    by one container, devd's RSS, fds and threads are flat after warm-up, and the only image
    left of all the builds is the current one (no dangling image, labelled or not)."""
    sample.write("Dockerfile", SOAK_DOCKERFILE.format(name=sample.name, rev=1, extra=""))
    sample.write("www/index.html", "version-1")
    sample.write("deps.txt", "deps-1")
    soak = Soak(sample, UpProcess(sample.root), docker_client, SEED)
    try:
        soak.settled(timeout=120)
        chance = random.Random(SEED)
        session = script(SEED, EPISODES)
        for episode in session[:WARM_UP]:
            soak.play(episode, chance)
        soak.settled()
        warm = quiet_resources(soak)
        for episode in session[WARM_UP:]:
            soak.play(episode, chance)
        soak.code()  # the last save: a code change on top of whatever came before
        soak.settled()
        end = quiet_resources(soak)
        images = one_generation(soak, docker_client, busybox_image)
        report(soak, warm, end, images)
        assert soak.up.process.poll() is None, "devd up exited during the soak"
        assert end.fds <= warm.fds + FD_TOLERANCE, (warm, end)
        assert end.threads <= warm.threads + THREAD_TOLERANCE, (warm, end)
        assert end.rss_kib <= warm.rss_kib + RSS_TOLERANCE_KIB, (warm, end)
        containers = docker_client.containers.list(
            all=True, filters={"label": f"devd.project={sample.name}"}
        )
        assert [container.status for container in containers] == ["running"]
        layers = {
            image["Id"] for image in soak_layers(docker_client, busybox_image, sample.name)[0]
        }
        made = [c["Id"] for c in docker_client.api.containers(all=True) if c["ImageID"] in layers]
        # The classic builder's step containers run from these layers (BuildKit's are no
        # engine containers); only the service's own container may.
        assert set(made) <= {containers[0].id}, "build containers left behind"
        assert not soak.differences()
    finally:
        soak.up.kill()
        remove_project(docker_client, sample.name)
        layers, _ = soak_layers(docker_client, busybox_image, sample.name)
        newest_first = sorted(layers, key=lambda image: -image["Created"])
        remove_images(
            docker_client, [image["Id"] for image in newest_first], rounds=len(layers) + 1
        )


def quiet_resources(soak: Soak) -> Resources:
    """devd's resources once it has been idle a moment (its last follow-up done)."""
    time.sleep(2.0)
    return Resources.of(soak.up.process.pid)


def one_generation(soak: Soak, client: Any, base: str) -> dict[str, int]:
    """Wait until the project's images are one generation: the tagged current image and the
    layers under it. Returns the counts."""
    project = soak.sample.name

    def state() -> dict[str, Any]:
        labelled = project_images(client, project)
        layers, parents = soak_layers(client, base, project)
        leaves = [image for image in layers if image["Id"] not in parents]
        return {"labelled": labelled, "layers": layers, "leaves": leaves}

    def single() -> dict[str, Any] | None:
        found = state()
        tagged = [
            image
            for image in found["leaves"]
            if [tag for tag in image.get("RepoTags") or () if tag != "<none>:<none>"]
        ]
        labelled = found["labelled"]
        if len(labelled) != 1 or not labelled[0].tags:
            return None
        # The classic builder leaves a chain of step images under the tagged one; BuildKit
        # keeps no step images in the image store: there are none.
        ok = not found["layers"] or (len(found["leaves"]) == 1 and len(tagged) == 1)
        return found if ok else None

    try:
        found = wait_for(single, 30, "one image generation", interval=0.5)
    except AssertionError:
        found = state()
        raise AssertionError(
            f"images left: {len(found['labelled'])} labelled, dangling leaves "
            f"{[(i['Id'][7:19], i.get('RepoTags')) for i in found['leaves']]}"
        ) from None
    return {"labelled": len(found["labelled"]), "layers": len(found["layers"])}


def report(soak: Soak, warm: Resources, end: Resources, images: dict[str, int]) -> None:
    """Print the figures (``pytest -s``) and, with DEVD_SOAK_REPORT=FILE, write them as JSON."""
    up = soak.up
    figures = {
        "seed": soak.seed,
        "episodes": EPISODES,
        "saves": soak.saves,
        "episodes_by_kind": dict(soak.counts),
        "builds": len(up.named("building")),
        "replaced": len(up.named("running")),
        "kept": len(up.named("image unchanged; container kept")),
        "synced": len(up.named("synced")),
        "failed_builds": len(up.named("build failed; previous container still running"))
        + len(up.named("build failed")),
        "invalid_definitions": len(up.named("definition invalid; keeping the running container")),
        "exits_reported": len(
            up.named("container exited; not restarting it (save a change to rebuild)")
        ),
        "faults_injected": sum(soak.counts[kind] for kind in FAULTS),
        "warm": warm.__dict__,
        "end": end.__dict__,
        "images": images,
        "trace": [(saves, *resources.__dict__.values()) for saves, resources in soak.trace],
    }
    print("\nsoak figures:", json.dumps(figures, indent=1))
    target = os.environ.get("DEVD_SOAK_REPORT")
    if target:
        with open(target, "w") as handle:
            json.dump(figures, handle, indent=1)
