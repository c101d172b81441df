"""The names devd gives a service's image and container."""

from __future__ import annotations


def image_tag(project: str, service: str) -> str:
    return f"devd-{project}-{service.lower()}:latest"


def container_name(project: str, service: str, given: str | None = None) -> str:
    """The name of ``service``'s container: ``given`` (compose's container_name), else
    ``<project>-<service>``."""
    return given or f"{project}-{service}"
