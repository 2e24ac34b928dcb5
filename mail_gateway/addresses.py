"""The addresses the gateway serves: `<command>[+<secret>[+<cabinet>]]@<mail domain>`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import getaddresses

from mail_gateway.commands import CHAINS

COMMANDS = tuple(CHAINS)
# Not a command people write to: delivery reports for outgoing mail come back to
# bounce+<token>@ (the VERP return path of workflows.deliveries), without sender authentication.
BOUNCE = "bounce"
_LOCAL_RE = re.compile(r"^(?P<command>[a-z]+)(?:\+(?P<secret>[A-Za-z0-9_-]{1,64})"
                       r"(?:\+(?P<cabinet>[a-z0-9][a-z0-9-]{1,62}))?)?$")


@dataclass(frozen=True)
class Recipient:
    """One command address; `secret` is the person's mail-in secret when the address has one."""

    command: str
    secret: str | None = None
    cabinet: str | None = None

    @property
    def bounce(self) -> bool:
        """A delivery report's address (bounce+<token>@): `secret` holds the token."""
        return self.command == BOUNCE

    def redacted(self, domain: str) -> str:
        """The address without its secret, for logs, spool files and the evidence log."""
        local = self.command
        if self.secret:
            local += "+…"
            if self.cabinet:
                local += f"+{self.cabinet}"
        return f"{local}@{domain}"


def parse_recipient(address: str, mail_domain: str) -> Recipient | None:
    """The command behind an envelope recipient, or None when the gateway does not serve it."""
    address = (address or "").strip().strip("<>")
    local, sep, domain = address.rpartition("@")
    if not sep or domain.lower() != mail_domain.lower():
        return None
    # Local parts are case-sensitive in theory; people type SEAL@ too. The secret keeps its case.
    head, plus, rest = local.partition("+")
    match = _LOCAL_RE.match(head.lower() + plus + rest)
    if not match:
        return None
    if match["command"] == BOUNCE:
        if not match["secret"] or match["cabinet"]:
            return None
    elif match["command"] not in COMMANDS:
        return None
    return Recipient(match["command"], match["secret"], match["cabinet"])


def single_address(header_value: str | None) -> str | None:
    """The one address of a From header, lower-cased; None when there are zero or several."""
    if not header_value:
        return None
    found = [addr for _name, addr in getaddresses([str(header_value)]) if "@" in addr]
    if len(found) != 1:
        return None
    return found[0].strip().lower()


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower().rstrip(".")
