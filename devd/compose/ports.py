"""``ports``: compose's short syntax (``"8000"``, ``"8000:8000"``, ``"127.0.0.1:8000:8000"``,
``"8000-8001:8000-8001"``, ``"/udp"``) and long syntax, as :class:`PortMapping` values.

A container port with no host port gets ``host=0``: the engine picks a free one. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from devd.compose.values import Key, Warnings, check_keys, integer, mapping, scalar, string
from devd.config import PortMapping

_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")
_SHORT = 'a port such as "8000", "8000:8000", "127.0.0.1:8000:8000" or "8000-8001:8000-8001/udp"'
_LONG_KEYS = frozenset({"target", "published", "host_ip", "protocol", "mode"})
_KNOWN_LONG = frozenset({"name", "app_protocol"})


def ports(value: Any, key: Key, warnings: Warnings) -> tuple[PortMapping, ...]:
    items = value if isinstance(value, list) else None
    if items is None:
        raise key.error("a list of ports", value)
    result: list[PortMapping] = []
    for index, item in enumerate(items):
        where = key.item(index)
        if isinstance(item, Mapping):
            result.append(_long(item, where, warnings))
        else:
            result.extend(_short(scalar(item, where), where, warnings))
    return tuple(dict.fromkeys(result))  # one of each, as compose keeps them (in any syntax)


def _short(text: str, key: Key, warnings: Warnings) -> list[PortMapping]:
    spec, _, protocol = text.partition("/")
    if protocol not in ("", "tcp", "udp"):
        raise key.error(_SHORT, text)
    host_ip: str | None = None
    if spec.startswith("["):
        address, bracket, spec = spec[1:].partition("]:")
        if not bracket:
            raise key.error(_SHORT, text)
        host_ip = address
        spec = ":" + spec if spec.count(":") == 0 else spec
        host_text, _, container_text = spec.rpartition(":")
    else:
        parts = spec.split(":")
        if len(parts) > 3:
            raise key.error(_SHORT, text)
        if len(parts) == 3:
            host_ip = parts.pop(0)
        container_text = parts[-1]
        host_text = parts[0] if len(parts) == 2 else ""
    containers = _range(container_text, key, text)
    hosts = _range(host_text, key, text) if host_text else [0] * len(containers)
    if len(hosts) != len(containers):
        if len(containers) != 1:
            raise key.problem(f"host and container port ranges differ in length in {text!r}")
        warnings.unsupported(key, f"devd publishes {hosts[0]} of the host range in {text!r}")
        hosts = hosts[:1]
    return [
        PortMapping(host, container, protocol or "tcp", host_ip or None)
        for host, container in zip(hosts, containers, strict=True)
    ]


def _range(text: str, key: Key, whole: str) -> list[int]:
    match = _RANGE.match(text)
    if match is None:
        raise key.error(_SHORT, whole)
    low = int(match[1])
    high = int(match[2]) if match[2] else low
    if not 1 <= low <= high <= 65535:
        raise key.error("ports 1-65535 (a range low-high)", whole)
    return list(range(low, high + 1))


def _long(node: Mapping[str, Any], key: Key, warnings: Warnings) -> PortMapping:
    check_keys(mapping(node, key), key, _LONG_KEYS, _KNOWN_LONG, warnings)
    if "target" not in node:
        raise key.problem("the container port (target) is missing")
    container = integer(node["target"], key.child("target"), 1, 65535)
    published = node.get("published")
    host = 0
    if published not in (None, ""):
        where = key.child("published")
        hosts = _range(scalar(published, where), where, str(published))
        if len(hosts) > 1:
            warnings.unsupported(key.child("published"), f"devd publishes {hosts[0]} of the range")
        host = hosts[0]
    protocol = string(node.get("protocol", "tcp"), key.child("protocol"))
    if protocol not in ("tcp", "udp"):
        raise key.child("protocol").error('"tcp" or "udp"', protocol)
    host_ip = node.get("host_ip")
    return PortMapping(
        host, container, protocol, string(host_ip, key.child("host_ip")) if host_ip else None
    )
