"""Which images a finished build supersedes (devd/generations.py): pure, no engine."""

from __future__ import annotations

from devd.core.generations import ImageInfo, superseded

OWNER = ("shop", "web")
LABELS = {"devd.image": "shop/web"}
OLDER_DEVD = {"devd.project": "shop", "devd.service": "web"}  # the two labels of before


def image(ident: str, created: int, tags: tuple[str, ...] = (), **labels: str) -> ImageInfo:
    return ImageInfo(ident, tags, created, labels or LABELS)


def test_untagged_older_images_of_the_service_are_superseded_oldest_first() -> None:
    """The current image stays; the untagged images before it go, the oldest first."""
    images = [image("c", 30, ("devd-shop-web:latest",)), image("b", 20), image("a", 10)]
    assert superseded(images, "c", OWNER) == ["a", "b"]


def test_tagged_newer_foreign_and_used_images_are_kept() -> None:
    """A tag anyone added, an image newer than the current one (a build still running
    elsewhere), another service's or unlabelled image, and one a container uses all stay."""
    other = {"devd.image": "shop/worker"}
    images = [
        image("cur", 30, ("devd-shop-web:latest",)),
        image("kept-by-tag", 10, ("mine:keep",)),
        image("newer", 31),
        image("same-second", 30),
        image("worker", 10, **other),
        ImageInfo("older-worker", (), 10, {**OLDER_DEVD, "devd.service": "worker"}),
        ImageInfo("other-project", (), 10, {"devd.image": "shopping/web"}),
        ImageInfo("unlabelled", (), 10, {}),
        image("in-use", 10),
    ]
    assert superseded(images, "cur", OWNER, in_use={"in-use"}) == ["same-second"]


def test_an_older_devds_two_label_image_is_superseded_too() -> None:
    """After an upgrade the image the older devd built (devd.project + devd.service) is
    superseded by the first build of the new one, like any earlier generation."""
    images = [image("new", 30, ("devd-shop-web:latest",)), ImageInfo("old", (), 20, OLDER_DEVD)]
    assert superseded(images, "new", OWNER) == ["old"]


def test_nothing_is_superseded_when_the_current_image_is_not_listed() -> None:
    """Without the current image's creation time nothing can be judged older: keep all."""
    assert superseded([image("a", 10), image("b", 20)], "gone", OWNER) == []


def test_summary_drops_the_placeholder_tag() -> None:
    """The engine lists an untagged image with the tag "<none>:<none>": that is no tag."""
    summary = {"Id": "sha256:1", "RepoTags": ["<none>:<none>"], "Created": 5, "Labels": None}
    assert ImageInfo.from_summary(summary) == ImageInfo("sha256:1", (), 5, {})
