"""Compose files as devd configuration: ``compose.yaml`` (and its override file, or the files
``-f`` / ``COMPOSE_FILE`` name) read into devd's service values.

``files`` finds and reads the files (and the ``.env`` that interpolates them), ``interpolate``
expands ``${VAR}`` references, ``merge`` merges several files as compose does, ``load``
validates the whole into a :class:`ComposeProject` (profiles choosing the services); the other
modules translate one concept each (ports, volumes, healthchecks, ``develop.watch``, one
service). Nothing here talks to the engine or prints: warnings are returned as values.
"""

from __future__ import annotations

from devd.compose.files import COMPOSE_FILES, OVERRIDE_FILES, find
from devd.compose.load import ComposeProject, load

__all__ = ["COMPOSE_FILES", "OVERRIDE_FILES", "ComposeProject", "find", "load"]
