"""Which images a finished build supersedes (devd/generations.py): pure, no engine."""

from __future__ import annotations

from devd.generations import ImageInfo, superseded

OWNER = {"devd.project": "shop", "devd.service": "web"}


def image(ident: str, created: int, tags: tuple[str, ...] = (), **labels: str) -> ImageInfo:
    return ImageInfo(ident, tags, created, labels or OWNER)


def test_untagged_older_images_of_the_service_are_superseded_oldest_first() -> None:
    """The current image stays; the untagged images before it go, the oldest first."""
    images = [image("c", 30, ("devd-shop-web:latest",)), image("b", 20), image("a", 10)]
    assert superseded(images, "c", OWNER) == ["a", "b"]


def test_tagged_newer_foreign_and_used_images_are_kept() -> None:
    """A tag anyone added, an image newer than the current one (a build still running
    elsewhere), another service's or unlabelled image, and one a container uses all stay."""
    other = {"devd.project": "shop", "devd.service": "worker"}
    images = [
        image("cur", 30, ("devd-shop-web:latest",)),
        image("kept-by-tag", 10, ("mine:keep",)),
        image("newer", 31),
        image("same-second", 30),
        image("worker", 10, **other),
        ImageInfo("unlabelled", (), 10, {}),
        image("in-use", 10),
    ]
    assert superseded(images, "cur", OWNER, in_use={"in-use"}) == ["same-second"]


def test_nothing_is_superseded_when_the_current_image_is_not_listed() -> None:
    """Without the current image's creation time nothing can be judged older: keep all."""
    assert superseded([image("a", 10), image("b", 20)], "gone", OWNER) == []


def test_summary_drops_the_placeholder_tag() -> None:
    """The engine lists an untagged image with the tag "<none>:<none>": that is no tag."""
    summary = {"Id": "sha256:1", "RepoTags": ["<none>:<none>"], "Created": 5, "Labels": None}
    assert ImageInfo.from_summary(summary) == ImageInfo("sha256:1", (), 5, {})
