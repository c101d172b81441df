"""The image half of the engine adapter: the project's images (listing, removing superseded,
failed and project images, tagging, pulling a missing base): :class:`Images`.

The containers' rule holds: devd lists and removes only images labelled as the project's
(:func:`devd.engine.container_spec.image_labels`, or an older devd's ``devd.project``), with one
exception, the untagged layers of a build that just failed
(:meth:`Images.remove_failed_build`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import docker.errors

from devd.core.generations import ImageInfo, superseded
from devd.core.imagename import split_reference
from devd.engine.container_spec import (
    LABEL_IMAGE,
    LABEL_PROJECT,
    image_owner,
    label_selector,
)
from devd.engine.transport import Transport, engine_said, explanation
from devd.errors import EngineError, one_line


class Images:
    """The project's images, through ``transport``."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def of_project(self, project: str) -> list[str]:
        """Ids of the images labelled as ``project``'s, newest first (untagged ones too;
        not the intermediate images of builds)."""
        with self._transport.call(f"listing the images of project {project!r}"):
            summaries = self._image_summaries(project)
        return [summary["Id"] for summary in summaries]

    def _image_summaries(self, project: str) -> list[dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for label in (LABEL_IMAGE, LABEL_PROJECT):  # devd.project: built by an older devd
            for summary in self._transport.api.images(filters={"label": label}):
                found[summary["Id"]] = summary
        ours = [s for s in found.values() if (image_owner(s.get("Labels")) or ("",))[0] == project]
        return sorted(ours, key=lambda summary: summary.get("Created", 0), reverse=True)

    def remove_project(self, project: str) -> int:
        """Remove ``project``'s images (with the untagged build layers under them, as
        ``docker rmi`` does); returns how many. Not forced: an image that a container, or an
        image not labelled as the project's, still uses is kept, and EngineError says so
        once the others are gone."""
        removed = 0
        kept: list[str] = []
        with self._transport.call(f"removing the images of project {project!r}"):
            pending = self._image_summaries(project)
            while pending:
                # A project image built on another must go first: retry the refused ones
                # while each round removes something.
                refused: list[dict[str, Any]] = []
                kept = []
                for summary in pending:
                    try:
                        self._remove_image(summary)
                    except docker.errors.NotFound:
                        continue
                    except docker.errors.APIError as error:
                        if error.status_code != 409:
                            raise
                        refused.append(summary)
                        kept.append(explanation(error))
                        continue
                    removed += 1
                if len(refused) == len(pending):
                    break
                pending = refused
        if kept:
            raise EngineError(
                f"removed {removed} image(s) of project {project!r} but kept {len(kept)}: "
                f"{kept[0]}; remove what uses them first"
            )
        return removed

    def _remove_image(self, summary: Mapping[str, Any]) -> None:
        image_id = summary["Id"]
        try:
            self._transport.api.remove_image(image_id)
        except docker.errors.APIError as error:
            if "multiple repositories" not in engine_said(error):
                raise
            # Tagged more than once: untag each tag still on this image; the last one goes.
            for tag in summary.get("RepoTags") or ():
                if self._image_id(tag) == image_id:
                    self._transport.api.remove_image(tag)

    def remove_superseded(
        self,
        project: str,
        service: str,
        current: str,
        proceed: Callable[[], bool] = lambda: True,
    ) -> list[str]:
        """Remove the images of ``project``'s ``service`` that image ``current`` supersedes
        (:func:`devd.core.generations.superseded`), with the untagged build layers only they
        used; returns their ids. Never forced: one the engine refuses (a container uses it,
        it was tagged meanwhile) stays. ``proceed`` is asked before each removal (after the
        listing): False stops there, the rest kept (a build of the service has started)."""
        removed: list[str] = []
        with self._transport.call(f"removing superseded images of service {service!r}"):
            summaries = self._image_summaries(project)  # older devd's two labels too
            containers = self._transport.api.containers(
                all=True, filters={"label": label_selector(project, service)}
            )
            in_use = {str(summary.get("ImageID")) for summary in containers}
            images = [ImageInfo.from_summary(summary) for summary in summaries]
            for image_id in superseded(images, current, (project, service), in_use):
                if not proceed():
                    break
                if self._remove_unless_refused(image_id, noprune=False):
                    removed.append(image_id)
        return removed

    def remove_failed_build(self, image_ids: Sequence[str]) -> int:
        """Remove the images a failed build made for its steps (``BuildFailed.created_images``,
        first step first), last step first; returns how many went. They carry no labels
        (the classic builder adds those last), but the build that made them just failed, so
        only the build cache could want them. One that is tagged, or that an image or
        container now uses, is kept; nothing else is removed with them (``noprune``)."""
        removed = 0
        with self._transport.call("removing the images of a failed build"):
            for image_id in reversed(image_ids):
                try:
                    tagged = self._transport.api.inspect_image(image_id).get("RepoTags")
                except docker.errors.NotFound:
                    continue
                if not tagged and self._remove_unless_refused(image_id, noprune=True):
                    removed += 1
        return removed

    def _remove_unless_refused(self, image_id: str, *, noprune: bool) -> bool:
        """Remove the image, never forced; whether it went (not if it is gone already, or
        the engine refuses: a container or another image uses it, it was tagged)."""
        try:
            self._transport.api.remove_image(image_id, force=False, noprune=noprune)
        except docker.errors.NotFound:
            return False
        except docker.errors.APIError as error:
            if error.status_code != 409:
                raise
            return False
        return True

    def id_of(self, ref: str) -> str | None:
        """The id of the image ``ref`` names; None when there is no such image."""
        with self._transport.call(f"looking up image {ref!r}"):
            return self._image_id(ref)

    def _image_id(self, ref: str) -> str | None:
        try:
            return str(self._transport.api.inspect_image(ref)["Id"])
        except docker.errors.NotFound:
            return None

    def pull(self, reference: str) -> str | None:
        """Pull ``reference`` through the images API, with the registry credentials of the
        user's Docker config (docker-py reads ``~/.docker/config.json`` and its credential
        helpers); None when it arrived, else the engine's reason, one line."""
        name, tag = split_reference(reference)
        try:
            with self._transport.call(f"pulling image {reference!r}"):
                try:
                    for chunk in self._transport.api.pull(name, tag, stream=True, decode=True):
                        if isinstance(chunk, Mapping) and "error" in chunk:
                            return one_line(str(chunk["error"]))
                except docker.errors.APIError as error:  # refused at once: its reason only
                    return explanation(error)
        except EngineError as error:
            return str(error)
        return None

    def tag(self, image_id: str, reference: str) -> None:
        """Tag image ``image_id`` as ``reference`` (``name[:tag]``, tag ``latest`` when none),
        moving the tag off any image that had it, as ``docker tag`` does."""
        name, tag = split_reference(reference)
        with self._transport.call(f"tagging image {image_id[7:19]} as {reference!r}"):
            self._transport.api.tag(image_id, name, tag, force=True)
