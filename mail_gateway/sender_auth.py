"""Who really sent a message: aligned DKIM checked here, a trusted upstream result, or a secret
address."""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass
from email import policy
from email.parser import BytesHeaderParser
from email.utils import getaddresses
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network
from collections.abc import Awaitable, Callable, Collection, Sequence

import dkim
from dkim import asyncsupport
from dkim.util import parse_tag_value
from publicsuffixlist import PublicSuffixList

from mail_gateway.addresses import domain_of, parse_recipient, single_address
from mail_gateway.errors import SenderNotAddressedError, SenderUnauthenticatedError
from paraphe import networks

log = logging.getLogger(__name__)

# An async TXT lookup, dkimpy's shape: (b"sel._domainkey.example.com.", timeout=…) -> TXT or None.
DnsResolver = Callable[..., Awaitable["bytes | str | None"]]
_COMMENT_RE = re.compile(r"\([^()]*\)")


@dataclass(frozen=True)
class SenderAuth:
    """How a sender was authenticated; kept in the evidence log with every seal."""

    method: str  # dkim | upstream | secret
    domain: str | None = None
    authserv_id: str | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in (("method", self.method), ("domain", self.domain),
                                  ("authserv_id", self.authserv_id)) if v is not None}


@lru_cache(maxsize=1)
def _public_suffixes() -> PublicSuffixList:
    # The list shipped with the package (ICANN and private sections), read once: no download.
    return PublicSuffixList()


def organizational_domain(domain: str) -> str | None:
    """The DMARC organisational domain (RFC 7489 §3.2), or None for a public suffix itself."""
    return _public_suffixes().privatesuffix(domain.lower().rstrip("."))


def aligned(signing_domain: str, from_domain: str) -> bool:
    """DMARC relaxed alignment: both domains have the same organisational domain.

    A public suffix has none, so `d=co.uk` never covers every *.co.uk sender.
    """
    org = organizational_domain(signing_domain)
    return org is not None and org == organizational_domain(from_domain)


_HEADER_END = re.compile(rb"\r?\n\r?\n")


def parse_headers(raw: bytes):
    """The header section only, as a compat32 Message.

    Only the bytes up to the first empty line are handed to the parser: given the whole
    message, `BytesHeaderParser` still decodes the body to text and keeps it as the payload,
    several copies of a 14 MB message per SMTP session.
    """
    end = _HEADER_END.search(raw)
    head = raw[:end.end()] if end else raw
    return BytesHeaderParser(policy=policy.compat32).parsebytes(head)


class SenderAuthenticator:
    """Checks DKIM signatures with dkimpy's async API, and upstream Authentication-Results.

    An upstream result counts only when the SMTP peer is a trusted relay and the result was
    added by a trusted authserv-id. A DKIM signature authenticates only a message that names
    the Paraphe address in a signed To or Cc, unless a trusted relay delivered it: otherwise
    any signed mail, resent as it is, would act for its author.
    """

    def __init__(self, trusted_authserv_ids: list[str], dns: DnsResolver | None = None, *,
                 trusted_relays: Sequence[IPv4Network | IPv6Network] = (),
                 mail_domain: str = "") -> None:
        self.trusted = {x.lower() for x in trusted_authserv_ids}
        self.relays = tuple(trusted_relays)
        self.mail_domain = mail_domain
        self.dns = dns or asyncsupport.get_txt_async
        _public_suffixes()  # Read the list at start, not during the first SMTP session.

    def is_trusted_relay(self, peer_ip: str | None) -> bool:
        return networks.within(peer_ip, self.relays)

    async def authenticate(self, raw: bytes, headers=None, *, peer_ip: str | None = None,
                           commands: Collection[str] = ()) -> SenderAuth:
        """The From domain's authentication for a message sent to the `commands` addresses.

        Raises SenderNotAddressedError when an aligned signature holds but the message does not
        name those addresses, SenderUnauthenticatedError when nothing holds.
        """
        headers = headers if headers is not None else parse_headers(raw)
        from_values = headers.get_all("From") or []
        from_address = single_address(from_values[0]) if len(from_values) == 1 else None
        if from_address is None:  # DMARC: zero or several From addresses is never aligned.
            raise SenderUnauthenticatedError()
        from_domain = domain_of(from_address)
        relayed = self.is_trusted_relay(peer_ip)
        if relayed:
            upstream = self._upstream(headers, from_domain)
            if upstream is not None:
                return upstream
        verified = await self._dkim(raw, headers, from_domain)
        if verified is None:
            raise SenderUnauthenticatedError()
        domain, signed = verified
        if not relayed and not names_all(headers, signed, commands, self.mail_domain):
            raise SenderNotAddressedError()
        return SenderAuth("dkim", domain=domain)

    def _upstream(self, headers, from_domain: str) -> SenderAuth | None:
        # The topmost result bearing a trusted authserv-id is the one the trusted relay added
        # (RFC 8601 §5 has it remove older ones with its id); every other one is dropped unread,
        # the results of hosts above it (an internal filter) as well as those below it.
        parts = None
        for value in headers.get_all("Authentication-Results") or []:
            fields = [p.strip() for p in _COMMENT_RE.sub(" ", str(value)).split(";")]
            if (fields[0].split() or [""])[0].lower() in self.trusted:
                parts = fields
                break
        if parts is None:
            return None
        authserv_id = parts[0].split()[0].lower()
        for resinfo in parts[1:]:
            props = dict(tok.split("=", 1) for tok in resinfo.split() if "=" in tok)
            props = {k.lower(): v.strip('"').lower() for k, v in props.items()}
            if props.get("dmarc") == "pass":
                if props.get("header.from", from_domain) == from_domain:
                    return SenderAuth("upstream", domain=from_domain, authserv_id=authserv_id)
            if props.get("dkim") == "pass":
                signer = props.get("header.d") or domain_of(props.get("header.i", ""))
                if signer and aligned(signer, from_domain):
                    return SenderAuth("upstream", domain=signer, authserv_id=authserv_id)
        return None

    async def _dkim(self, raw: bytes, headers, from_domain: str) -> tuple[str, Counter] | None:
        """The aligned signing domain that verifies, with the header fields it signs."""
        signatures = headers.get_all("DKIM-Signature") or []
        if not signatures:
            return None
        verifier = None
        for idx, value in enumerate(signatures):
            try:
                tags = parse_tag_value("".join(str(value).split()).encode())
            except dkim.InvalidTagValueList:
                continue
            domain = tags.get(b"d", b"").decode("ascii", "replace").lower()
            # A body length limit (l=) lets anyone append attachments under a valid signature.
            if not domain or b"l" in tags or not aligned(domain, from_domain):
                continue
            verifier = verifier or asyncsupport.DKIM(raw, minkey=1024, timeout=5)
            try:
                if await verifier.verify(idx=idx, dnsfunc=self.dns):
                    signed = Counter(name.strip().lower() for name in
                                     tags.get(b"h", b"").decode("ascii", "replace").split(":"))
                    return domain, signed
            except (dkim.DKIMException, ValueError) as exc:
                log.info("DKIM signature %d for %s did not verify: %s", idx, domain, exc)
        return None


def names_all(headers, signed: Counter, commands: Collection[str], mail_domain: str) -> bool:
    """Whether signed To or Cc fields name each command address (`seal@<mail domain>`…).

    A field counts only when the signature covers each of its instances: one added above a
    signed To (h= lists `to` once) would pass verification while naming anyone.
    """
    named: set[str] = set()
    for field in ("To", "Cc"):
        values = headers.get_all(field) or []
        if not values or signed[field.lower()] < len(values):
            continue
        for _name, address in getaddresses([str(v) for v in values]):
            recipient = parse_recipient(address, mail_domain)
            if recipient is not None and recipient.secret is None:
                named.add(recipient.command)
    return set(commands) <= named
