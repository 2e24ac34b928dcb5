"""Where webhooks may post: public addresses only, checked when an endpoint is added and at each
delivery."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from workflows.errors import WebhookTargetForbiddenError
from workflows.ports import CoreSettings


# host, port -> the IP addresses (text) the host resolves to; raises OSError when it does not.
Resolve = Callable[[str, int], Awaitable[list[str]]]
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# NAT64's well-known prefix (RFC 6052) carries an IPv4 address in its last 32 bits.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# The legacy IPv4 spellings inet_aton accepts (2130706433, 0177.1, 0x7f.1): each label a
# decimal, octal or 0x-hex number. They are resolved without DNS, like a literal.
_NUMERIC_LABEL = re.compile(r"0[xX][0-9a-fA-F]*|[0-9]+")


async def system_resolve(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for `host`, once, in its order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def _embedded_ipv4(ip: IpAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 one leads to: mapped, NAT64, 6to4, Teredo."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    found = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [a for a in found if a is not None]


def _range_of(ip: IpAddress) -> str | None:
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_reserved:
        return "reserved"
    if ip.is_private or getattr(ip, "is_site_local", False):
        return "private"
    if not ip.is_global:  # Shared address space (100.64/10) and other special ranges.
        return "non-public"
    return None


def forbidden_range(address: str) -> str | None:
    """The kind of non-public range `address` is in ("loopback", "private"…), or None."""
    ip = ipaddress.ip_address(address)
    for candidate in (*_embedded_ipv4(ip), ip):
        if kind := _range_of(candidate):
            return kind
    return None


def is_literal(host: str) -> bool:
    """True for a host resolved without DNS: an IP literal or a legacy numeric IPv4 spelling."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        labels = host.rstrip(".").split(".")
        return 0 < len(labels) <= 4 and all(_NUMERIC_LABEL.fullmatch(x) for x in labels)


def _literal(host: str) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        return []


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts.hostname or "", port or (443 if parts.scheme == "https" else 80)


@dataclass(frozen=True)
class WebhookTargets:
    """The rule for webhook destinations: public addresses unless `allow_private`."""

    allow_private: bool = False
    resolve: Resolve = system_resolve

    @classmethod
    def from_settings(cls, settings: CoreSettings,
                      resolve: Resolve | None = None) -> WebhookTargets:
        return cls(allow_private=settings.webhook_allow_private,
                   resolve=resolve or system_resolve)

    def check(self, host: str, addresses: list[str]) -> list[str]:
        """Returns `addresses` when every one may be reached; raises WebhookTargetForbiddenError."""
        if self.allow_private:
            return addresses
        for address in addresses:
            if kind := forbidden_range(address):
                what = (f"{host} is" if [address] == _literal(host)
                        else f"{host} resolves to {address}, which is")
                raise WebhookTargetForbiddenError(
                    f"webhook target refused: {what} a {kind} address; webhooks post only to "
                    f"public addresses (PARAPHE_WEBHOOK_ALLOW_PRIVATE=true allows others)",
                    host=host, address=address, range=kind)
        return addresses

    async def addresses(self, host: str, port: int) -> list[str]:
        """Resolves `host` once and checks every address it gives; the caller connects to
        one of these, never to a second resolution. Raises WebhookTargetForbiddenError, or
        OSError when the host does not resolve."""
        addresses = _literal(host) or await self.resolve(host, port)
        if not addresses:
            raise OSError(f"{host} has no address")
        return self.check(host, addresses)

    async def check_url(self, url: str) -> None:
        """What is checked when an endpoint is added: every address the URL's host has now.

        A name that does not resolve yet is accepted: each delivery checks it again.
        Raises WebhookTargetForbiddenError.
        """
        host, port = _host_port(url)
        try:
            await self.addresses(host, port)
        except OSError:
            if is_literal(host):
                raise WebhookTargetForbiddenError(
                    f"{host} is not a usable IP address", host=host) from None
