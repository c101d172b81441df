"""Compose files as devd configuration: ``compose.yaml`` read into devd's service values.

``files`` finds and reads the file (and the ``.env`` beside it), ``interpolate`` expands
``${VAR}`` references, ``load`` validates the whole file into a :class:`ComposeProject`; the
other modules translate one concept each (ports, volumes, healthchecks, ``develop.watch``, one
service). Nothing here talks to the engine or prints: warnings are returned as values.
"""

from __future__ import annotations

from devd.compose.files import COMPOSE_FILES, find
from devd.compose.load import ComposeProject, load

__all__ = ["COMPOSE_FILES", "ComposeProject", "find", "load"]
