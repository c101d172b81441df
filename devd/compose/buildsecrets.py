"""A compose service's ``build.secrets`` and ``build.ssh``, read as compose reads them.

``build.secrets`` names secrets of the top-level ``secrets:`` section, in short syntax (the
name, which is also the id ``RUN --mount=type=secret,id=...`` uses) or long syntax
(``source:`` the name, ``target:`` the id when given). A top-level secret is read from
``file:`` (relative to the compose file's directory) or ``environment:`` (a variable of the
environment devd runs in); ``external`` secrets exist only in a swarm, and a build cannot use
them. ``build.ssh`` is a list of ``default`` / ``ID`` / ``ID=PATH`` or a mapping of id to
path (empty: the agent of ``SSH_AUTH_SOCK``). Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devd.compose.values import Key, mapping, string
from devd.config import BuildSecret, SshAgent, ssh_agent, ssh_entry_problem


def build_secrets(
    value: Any, key: Key, declared: Mapping[str, Any], top: Key, directory: Path
) -> tuple[BuildSecret, ...]:
    """The secrets ``build.secrets`` (``value`` at ``key``) gives the build, each read from
    where the top-level ``secrets:`` (``declared``, at ``top``) says."""
    if not isinstance(value, list):
        raise key.error("a list of secret names", value)
    secrets: list[BuildSecret] = []
    for index, entry in enumerate(value):
        where = key.item(index)
        if isinstance(entry, str):
            name, ident = entry, entry
        else:
            spec = mapping(entry, where)
            name = string(spec.get("source"), where.child("source"))
            target = spec.get("target")
            ident = string(target, where.child("target")) if target is not None else name
        if name not in declared:
            raise where.problem(f"secret {name!r} is not declared under the top-level secrets")
        secrets.append(_secret(ident, declared[name], top.child(name), directory))
    return tuple(secrets)


def _secret(ident: str, value: Any, key: Key, directory: Path) -> BuildSecret:
    spec = mapping(value, key)
    if "file" in spec:
        text = string(spec["file"], key.child("file"))
        path = Path(text).expanduser()
        return BuildSecret(ident, str(key), file=(directory / path).resolve())
    if "environment" in spec:
        return BuildSecret(
            ident, str(key), env=string(spec["environment"], key.child("environment"))
        )
    raise key.problem(
        "a build reads a secret from file: or environment: (external secrets are a swarm's)"
    )


def build_ssh(value: Any, key: Key, directory: Path) -> tuple[SshAgent, ...]:
    """The SSH agents ``build.ssh`` forwards."""
    if isinstance(value, Mapping):
        entries = [f"{name}={path}" if path else str(name) for name, path in value.items()]
    elif isinstance(value, list):
        entries = [string(entry, key.item(index)) for index, entry in enumerate(value)]
    else:
        raise key.error("a list such as [default] or a mapping of id to socket", value)
    for entry in entries:
        problem = ssh_entry_problem(entry)
        if problem:
            raise key.problem(problem)
    return tuple(ssh_agent(entry, directory) for entry in entries)
