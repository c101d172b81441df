"""Image generations: which of a service's images a finished build has superseded.

Each build of a service tags its image ``devd-<project>-<service>:latest``; the image the tag
named before loses its only tag and, left alone, stays on disk as a dangling image with the
build layers under it: a few megabytes for every save, for as long as ``devd up`` runs. After
a build devd keeps one generation (the image just built) and removes the images it
supersedes, which are exactly those that are:

* labelled as this project's and this service's (devd never touches anything else), by this
  devd's one label or an older devd's two (after an upgrade the previous image goes too);
* untagged: a tag, even one a person added, means someone still wants it;
* not the image just built, and created no later than it: an image newer than the current one
  belongs to a build still running elsewhere (``devd build`` in another terminal), which tags
  it when it finishes. Creation times are whole seconds, so a build that ends within the
  same second is not told apart this way: ``devd up`` keeps its own builds and removals
  apart (:mod:`devd.daemon.sweeper`);
* not used by any container (the engine checks that too: removal is never forced).

This module only decides; :meth:`devd.engine.images.Images.remove_superseded` asks
the engine and removes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from devd.engine.container_spec import image_owner

UNTAGGED = "<none>:<none>"


@dataclass(frozen=True)
class ImageInfo:
    """An image as the engine's image list describes it. ``created`` is in whole seconds."""

    id: str
    tags: tuple[str, ...]
    created: int
    labels: Mapping[str, str]

    @classmethod
    def from_summary(cls, summary: Mapping[str, Any]) -> ImageInfo:
        tags = tuple(tag for tag in summary.get("RepoTags") or () if tag != UNTAGGED)
        return cls(
            id=str(summary["Id"]),
            tags=tags,
            created=int(summary.get("Created") or 0),
            labels=dict(summary.get("Labels") or {}),
        )


def superseded(
    images: Iterable[ImageInfo],
    current: str,
    owner: tuple[str, str],
    in_use: Collection[str] = (),
) -> list[str]:
    """Ids of the images ``current`` supersedes (see the module's rules), oldest first.

    ``owner`` is the (project, service) whose images these are (:func:`image_owner` of
    their labels); ``in_use`` the image ids of existing containers. Nothing is superseded
    when ``current`` is not among ``images``.
    """
    listed = list(images)
    newest = next((image.created for image in listed if image.id == current), None)
    if newest is None:
        return []
    chosen = [
        image
        for image in listed
        if image.id != current
        and not image.tags
        and image.created <= newest
        and image.id not in in_use
        and image_owner(image.labels) == owner
    ]
    return [image.id for image in sorted(chosen, key=lambda image: image.created)]
