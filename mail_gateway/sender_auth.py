"""Who really sent a message: aligned DKIM checked here, a trusted upstream result, or a secret address."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email import policy
from typing import Awaitable, Callable

import dkim
from dkim import asyncsupport
from dkim.util import parse_tag_value

from mail_gateway.addresses import domain_of, single_address

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


def aligned(signing_domain: str, from_domain: str) -> bool:
    """DMARC relaxed alignment, without a public-suffix list.

    The signing domain must be the From domain or one of its parents, and have at least two
    labels, so that `d=com` never covers every .com sender.
    """
    signing_domain, from_domain = signing_domain.lower().rstrip("."), from_domain.lower()
    if "." not in signing_domain:
        return False
    return from_domain == signing_domain or from_domain.endswith("." + signing_domain)


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
    """Checks DKIM signatures with dkimpy's async API, and upstream Authentication-Results."""

    def __init__(self, trusted_authserv_ids: list[str], dns: DnsResolver | None = None) -> None:
        self.trusted = {x.lower() for x in trusted_authserv_ids}
        self.dns = dns or asyncsupport.get_txt_async

    async def authenticate(self, raw: bytes, headers=None) -> SenderAuth | None:
        """The From domain's authentication, or None when neither DKIM nor a trusted result holds."""
        headers = headers if headers is not None else parse_headers(raw)
        from_values = headers.get_all("From") or []
        from_address = single_address(from_values[0]) if len(from_values) == 1 else None
        if from_address is None:  # DMARC: zero or several From addresses is never aligned.
            return None
        from_domain = domain_of(from_address)
        upstream = self._upstream(headers, from_domain)
        if upstream is not None:
            return upstream
        domain = await self._dkim(raw, headers, from_domain)
        if domain is not None:
            return SenderAuth("dkim", domain=domain)
        return None

    def _upstream(self, headers, from_domain: str) -> SenderAuth | None:
        # Only the topmost Authentication-Results counts: it is the one the nearest (trusted)
        # MTA added, and RFC 8601 §5 has it remove any older ones bearing its own id.
        if not self.trusted:
            return None
        values = headers.get_all("Authentication-Results") or []
        if not values:
            return None
        parts = [p.strip() for p in _COMMENT_RE.sub(" ", str(values[0])).split(";")]
        authserv_id = (parts[0].split() or [""])[0].lower()
        if authserv_id not in self.trusted:
            return None
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

    async def _dkim(self, raw: bytes, headers, from_domain: str) -> str | None:
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
                    return domain
            except (dkim.DKIMException, ValueError) as exc:
                log.info("DKIM signature %d for %s did not verify: %s", idx, domain, exc)
        return None
