"""Image names as the engine parses them (``distribution/reference``), checked before the
engine is asked, so that a bad one is reported where it was written (a Dockerfile line, a
configuration key) rather than as the engine's "invalid reference format" at build time.

Pure: takes text, returns what is wrong with it, or None.
"""

from __future__ import annotations

import re

COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{COMPONENT}(?:/{COMPONENT})*"
_REFERENCE = re.compile(rf"^(?P<name>{_NAME})(?::{_TAG})?(?:@{_DIGEST})?$")
_COMPONENT = re.compile(rf"^{COMPONENT}$")
MAX_NAME = 255  # the engine's limit on a repository name


def reference_problem(text: str) -> str | None:
    """What the engine would say is wrong with image reference ``text``; None if nothing."""
    match = _parse(text)
    if match is None:
        if _parse(_lower_name(text)) is not None:
            return "repository name must be lowercase"
        return "invalid reference format"
    if len(match["name"]) > MAX_NAME:
        return f"repository name must not be longer than {MAX_NAME} characters"
    return None


def _parse(text: str) -> re.Match[str] | None:
    """The match of a valid reference. A first part is a registry only if it has a '.' or
    a ':' or is 'localhost' (as the engine splits names); otherwise it is a path component."""
    match = _REFERENCE.match(text)
    first, slash, _ = text.partition("/")
    if match is not None and slash and not _is_domain(first) and not is_component(first):
        return None
    return match


def _is_domain(first: str) -> bool:
    return "." in first or ":" in first or first == "localhost"


def is_component(text: str) -> bool:
    """Whether ``text`` can be one ``/``-separated part of a repository name."""
    return bool(_COMPONENT.match(text))


def _lower_name(text: str) -> str:
    """``text`` with its name part (before any tag or digest) lowercased."""
    name, at, digest = text.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon].lower() + name[colon:] + at + digest
    return name.lower() + at + digest


def split_reference(text: str) -> tuple[str, str]:
    """A reference without a digest as (name, tag); the tag is ``latest`` when not given."""
    slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > slash:
        return text[:colon], text[colon + 1 :]
    return text, "latest"
