"""A service's container options that devd hands to the engine as compose does:
``container_name``, ``extra_hosts``, ``cap_add``/``cap_drop``, ``read_only``, ``shm_size``,
``ulimits``, read into :class:`ContainerOptions`. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from devd.compose.values import Key, boolean, integer, mapping, scalar, string, strings
from devd.config import ContainerOptions, Ulimit

_CONTAINER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$", re.IGNORECASE)
_UNITS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}
OPTIONS = frozenset({"extra_hosts", "cap_add", "cap_drop", "read_only", "shm_size", "ulimits"})


def container_name(value: Any, key: Key) -> str:
    """``container_name``: a name the engine takes (compose's pattern)."""
    text = string(value, key)
    if not _CONTAINER_NAME.match(text):
        raise key.error("a container name of letters, digits, '_', '.' and '-'", text)
    return text


def options(node: Mapping[str, Any], key: Key) -> ContainerOptions:
    """The options ``node`` (a service) sets; the engine's defaults for the others."""

    def read(name: str, default: Any, reader: Any) -> Any:
        value = node.get(name)
        return default if value is None else reader(value, key.child(name))

    return ContainerOptions(
        extra_hosts=read("extra_hosts", (), extra_hosts),
        cap_add=read("cap_add", (), strings),
        cap_drop=read("cap_drop", (), strings),
        read_only=read("read_only", False, boolean),
        shm_size=read("shm_size", None, size),
        ulimits=read("ulimits", (), ulimits),
    )


def extra_hosts(value: Any, key: Key) -> tuple[str, ...]:
    """``extra_hosts``: ``["host:ip"]``, ``["host=ip"]`` or ``{host: ip}`` (an address list
    too), as the engine's ``host:ip`` lines."""
    if isinstance(value, Mapping):
        pairs = []
        for host, address in mapping(value, key).items():
            for item in address if isinstance(address, list) else [address]:
                pairs.append((host, scalar(item, key.child(host))))
    else:
        pairs = [_host_pair(text, key.item(i)) for i, text in enumerate(strings(value, key))]
    return tuple(f"{host}:{address.strip('[]')}" for host, address in pairs)


def _host_pair(text: str, key: Key) -> tuple[str, str]:
    host, equals, address = text.partition("=")
    if not equals:
        host, colon, address = text.partition(":")
        if not colon:
            raise key.error('"HOST:IP" or "HOST=IP"', text)
    if not host or not address:
        raise key.error('"HOST:IP" or "HOST=IP"', text)
    return host, address


def size(value: Any, key: Key) -> int:
    """A size in bytes: a number, or ``64m``, ``1.5g``, ``512MiB`` (powers of 1024)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _SIZE.match(string(value, key).strip())
    if match is None:
        raise key.error('a size such as "64m", "1g" or a number of bytes', value)
    return int(float(match[1]) * 1024 ** _UNITS[match[2].lower()])


def ulimits(value: Any, key: Key) -> tuple[Ulimit, ...]:
    """``ulimits``: ``{nofile: 1024}`` (soft and hard) or ``{nofile: {soft: 1024, hard:
    2048}}``."""
    found = []
    for name, limit in mapping(value, key).items():
        where = key.child(name)
        if isinstance(limit, Mapping):
            body = mapping(limit, where)
            for part in ("soft", "hard"):
                if part not in body:
                    raise where.problem(f"{part} is missing (or give one number for both)")
            soft = integer(body["soft"], where.child("soft"), low=-1)
            hard = integer(body["hard"], where.child("hard"), low=-1)
        else:
            soft = hard = integer(limit, where, low=-1)
        found.append(Ulimit(name, soft, hard))
    return tuple(found)
