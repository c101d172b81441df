"""``devd doctor``: why builds are slow or stale, each finding with where, its cost and the fix.

The seed guide's troubleshooting list, automated: instruction order that defeats the cache, a
dependency manifest that changes on nearly every build, a missing or leaky ``.dockerignore``,
secrets in the build context, ignore patterns that match only at the context root, the size of
the context and of the image's layers, and single-line cache hazards (``apt-get update`` alone,
floating base tags, downloads of moving targets).

The checks are pure: they take plain data (``facts``: the service's BuildView with the parsed
Dockerfile and ignore rules, the ignore file's text, the files the context sends with their
sizes, the recorded cycles, the image's layer history) and return Finding values
(``findings``). The modules:

- ``dockerfile_checks``, ``context_checks``, ``history_checks``, ``layers``: the checks;
  ``steps``: what they ask of the Dockerfile; ``checks.diagnose``: all of them on one service;
- ``gather``: the thin adapter that reads the facts from disk and the engine (``run_doctor``);
- ``render``: findings for a person; ``findings.to_json`` for ``--json``.
"""

from __future__ import annotations

from devd.doctor.checks import diagnose
from devd.doctor.context_checks import (
    LARGE_CONTEXT,
    check_context_contents,
    check_context_size,
    check_ignore_file,
    check_root_only_patterns,
    check_secrets,
)
from devd.doctor.dockerfile_checks import (
    check_apt,
    check_base_images,
    check_fetches,
    check_instruction_order,
    check_no_cache_config,
    check_pip_cache,
)
from devd.doctor.facts import ContextFile, ContextListing, ImageFacts, Layer, ServiceFacts
from devd.doctor.findings import Finding, exit_code, human_size, sort_findings, to_json
from devd.doctor.gather import gather, image_facts, run_doctor, walk_context
from devd.doctor.history_checks import check_manifest_churn
from devd.doctor.layers import check_layers
from devd.doctor.render import render

__all__ = [
    "LARGE_CONTEXT",
    "ContextFile",
    "ContextListing",
    "Finding",
    "ImageFacts",
    "Layer",
    "ServiceFacts",
    "check_apt",
    "check_base_images",
    "check_context_contents",
    "check_context_size",
    "check_fetches",
    "check_ignore_file",
    "check_instruction_order",
    "check_layers",
    "check_manifest_churn",
    "check_no_cache_config",
    "check_pip_cache",
    "check_root_only_patterns",
    "check_secrets",
    "diagnose",
    "exit_code",
    "gather",
    "human_size",
    "image_facts",
    "render",
    "run_doctor",
    "sort_findings",
    "to_json",
    "walk_context",
]
