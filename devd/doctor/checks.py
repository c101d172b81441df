"""Every check on one service's facts, in one list: the pure core of ``devd doctor``."""

from __future__ import annotations

from dataclasses import replace

from devd.doctor.builder_checks import check_builder
from devd.doctor.context_checks import (
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
from devd.doctor.facts import ServiceFacts
from devd.doctor.findings import Finding, sort_findings
from devd.doctor.history_checks import check_manifest_churn
from devd.doctor.layers import check_layers


def diagnose(facts: ServiceFacts) -> list[Finding]:
    """Every check on one service's facts, each finding labelled with the service."""
    view, context = facts.view, facts.context
    has_ignore_file = facts.ignore_text is not None
    findings = [
        *check_instruction_order(view),
        *check_manifest_churn(view, facts.cycles),
        *check_ignore_file(view, facts.ignore_text, context),
        *check_context_contents(view, has_ignore_file, context),
        *check_secrets(view, has_ignore_file, context, facts.env_texts),
        *check_root_only_patterns(view, facts.ignore_text, context),
        *check_context_size(view, context),
        *check_layers(view, facts.image),
        *check_base_images(view),
        *check_apt(view),
        *check_pip_cache(view),
        *check_fetches(view),
        *check_no_cache_config(facts.dockerfile_no_cache, facts.config_source),
        *check_builder(view, facts.builder, facts.engine_major),
    ]
    return sort_findings(replace(finding, service=view.service) for finding in findings)
