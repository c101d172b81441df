"""devd.compose.ports: every short and long ``ports`` syntax, and the errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devd.config import PortMapping
from tests.composefiles import error_of, one

# -- ports -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("port", "expected"),
    [
        ("8000", [PortMapping(0, 8000)]),
        ("8000:8000", [PortMapping(8000, 8000)]),
        ("9000:80/udp", [PortMapping(9000, 80, "udp")]),
        ("127.0.0.1:8000:80", [PortMapping(8000, 80, "tcp", "127.0.0.1")]),
        ("127.0.0.1::80", [PortMapping(0, 80, "tcp", "127.0.0.1")]),
        ("[::1]:8000:80", [PortMapping(8000, 80, "tcp", "::1")]),
        ("8000-8001:9000-9001", [PortMapping(8000, 9000), PortMapping(8001, 9001)]),
        ("9000-9001", [PortMapping(0, 9000), PortMapping(0, 9001)]),
        (8080, [PortMapping(0, 8080)]),
    ],
)
def test_ports_short_syntax(tmp_path: Path, port: str | int, expected: list[PortMapping]) -> None:
    """Every short port form; a container port alone gets host 0 (the engine picks)."""
    service = one(f"  web:\n    image: x\n    ports: [{json.dumps(port)}]\n", tmp_path)
    assert list(service.ports) == expected


def test_ports_long_syntax(tmp_path: Path) -> None:
    """Long syntax: target, published (string or number; absent: engine picks), host_ip,
    protocol; ``mode`` is accepted, ``name`` is warned about."""
    service = one(
        """\
  web:
    image: x
    ports:
      - {target: 80, published: "8080", host_ip: 127.0.0.1, protocol: tcp, mode: host}
      - {target: 53, published: 5353, protocol: udp}
      - {target: 9000, name: metrics}
""",
        tmp_path,
    )
    assert service.ports == (
        PortMapping(8080, 80, "tcp", "127.0.0.1"),
        PortMapping(5353, 53, "udp"),
        PortMapping(0, 9000),
    )


@pytest.mark.parametrize(
    ("ports", "message"),
    [
        ('["abc"]', "compose.yaml: services.web.ports[0]: expected a port such as"),
        ('["80:70000"]', "compose.yaml: services.web.ports[0]: expected ports 1-65535"),
        ('["80/sctp"]', "compose.yaml: services.web.ports[0]: expected a port such as"),
        ('["1-3:1-2"]', "compose.yaml: services.web.ports[0]: host and container port ranges"),
        (
            "[{published: 80}]",
            "compose.yaml: services.web.ports[0]: the container port (target) is missing",
        ),
        (
            "[{target: x}]",
            "compose.yaml: services.web.ports[0].target: expected an integer, got 'x'",
        ),
        (
            "[{target: 80, protocol: sctp}]",
            'services.web.ports[0].protocol: expected "tcp" or "udp"',
        ),
        (
            '"8000:8000"',
            "compose.yaml: services.web.ports: expected a list of ports, got '8000:8000'",
        ),
    ],
)
def test_bad_ports(tmp_path: Path, ports: str, message: str) -> None:
    """A bad port names the item's path and what is expected."""
    text = f"services:\n  web:\n    image: x\n    ports: {ports}\n"
    assert message in error_of(text, tmp_path)
