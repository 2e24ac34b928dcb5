"""Is this peer one of ours (a relay, a load balancer)? Addresses as the sockets give them."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

Networks = Sequence[IPv4Network | IPv6Network]


def parse_ip(text: str | None) -> IPv4Address | IPv6Address | None:
    """The address, without an IPv6 zone, an IPv4-mapped IPv6 one as IPv4; None if not one."""
    try:
        ip = ip_address((text or "").strip().split("%")[0])
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def within(text: str | None, networks: Networks) -> bool:
    ip = parse_ip(text)
    return ip is not None and any(ip in network for network in networks)
