"""The check on the built image: its size and its largest layers (what ``docker history``
shows), each named by its Dockerfile line where the history lines up with the Dockerfile."""

from __future__ import annotations

import re
from collections.abc import Sequence

from devd.core.classify import BuildView
from devd.core.dockerfile import Step
from devd.doctor.facts import ImageFacts, Layer
from devd.doctor.findings import EXAMPLES, Finding, human_size
from devd.doctor.steps import cut, quote


def check_layers(view: BuildView, image: ImageFacts | None) -> list[Finding]:
    """What ``docker history`` shows: the image's size and its largest layers, each with its
    Dockerfile line where the history lines up with the Dockerfile; else say to build first."""
    if image is None:
        return []
    if image.layers is None:
        return [_no_layers_finding(view, image)]
    described = _describe_layers(view, image.layers)
    ranked = sorted((d for d in described if d[1] > 0), key=lambda d: -d[1])[:EXAMPLES]
    total = sum(layer.size for layer in image.layers)
    shown = "; ".join(f"{label} {human_size(size)}" for label, size in ranked)
    return [
        Finding(
            check="image-layers",
            level="info",
            file=view.dockerfile_path,
            message=(
                f"image {image.tag}: {human_size(total)} in {len(image.layers)} layers; "
                f"largest: {shown or 'none'}"
            ),
            cost=(
                "a rebuild re-creates every layer from the first busted step on: large layers "
                "above the code copy are paid once, large layers after it on every save"
            ),
            fix=(
                "nothing needed; to shrink a layer, clean up in the RUN that made it "
                "(`pip install --no-cache-dir`, `rm -rf /var/lib/apt/lists/*`)"
            ),
        )
    ]


def _no_layers_finding(view: BuildView, image: ImageFacts) -> Finding:
    if image.problem is not None:
        message = f"layer sizes of {image.tag} not read: {image.problem}"
    else:
        message = f"no image {image.tag} yet: layer sizes (what `docker history` shows) need one"
    return Finding(
        check="image-not-built",
        level="info",
        file=view.dockerfile_path,
        message=message,
        cost="none; this check is skipped",
        fix="run `devd build` (or `devd up`), then `devd doctor` again",
    )


def _describe_layers(view: BuildView, layers: Sequence[Layer]) -> list[tuple[str, int]]:
    """(label, size) per layer, or per group: the base image's layers are one entry."""
    dockerfile = view.dockerfile
    final = dockerfile.stage(view.target) if view.target else dockerfile.stages[-1]
    own = final.steps[1:]
    offset = _alignment(own, layers)
    if offset is None:
        return [(f"`{_short_history(layer.created_by)}`", layer.size) for layer in layers]
    described = [("LABEL (build labels)", layer.size) for layer in layers[:offset]]
    for index, step in enumerate(reversed(own)):
        label = f"{view.dockerfile_path}:{step.instruction.line} {quote(step)}"
        described.append((label, layers[offset + index].size))
    base = sum(layer.size for layer in layers[offset + len(own) :])
    origin = f"{view.dockerfile_path}:{final.steps[0].instruction.line}"
    described.append((f"{origin} {quote(final.steps[0])} (the base image)", base))
    return described


def _alignment(own: Sequence[Step], layers: Sequence[Layer]) -> int | None:
    """How many (build label) entries come before the final stage's steps in the history,
    when every step's keyword matches its entry's; None when the history does not line up."""
    keywords = [_history_keyword(layer.created_by) for layer in layers]
    for offset in range(len(layers) - len(own) + 1):
        if any(keyword != "LABEL" for keyword in keywords[:offset]):
            return None
        window = keywords[offset : offset + len(own)]
        if all(k == s.keyword for k, s in zip(window, reversed(own), strict=True)):
            return offset
    return None


def _history_keyword(created_by: str) -> str:
    text = created_by.strip()
    if "#(nop)" in text:
        words = text.split("#(nop)", 1)[1].split()
        return words[0].upper() if words else ""
    if text.endswith("# buildkit"):
        return text.split(maxsplit=1)[0].upper()
    return "RUN" if "/bin/sh -c" in text else ""


def _short_history(created_by: str) -> str:
    text = re.sub(r"^/bin/sh -c (#\(nop\)\s*)?", "", created_by.strip()) or "(base)"
    return cut(" ".join(text.split()), 60)
