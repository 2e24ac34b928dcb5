"""Signers written as lines of text, the one grammar of every channel (mail, chat).

A line is `Name <email>` or a bare `email`, optionally followed (after a space, a comma or
a semicolon) by a mobile (`+33 6 12 34 56 78`, `06 12 34 56 78`). A leading bullet is
dropped. A line with an address or a number that cannot be read, or a name that cannot go
into a certificate (a control character, U+FFFD, over 200 characters), is unreadable, so a
mistyped signer is never silently left out. The mail body (collect@) may also say
`ordre: oui` (or `order: yes`), holds prose (greetings) that is ignored, and stops at the
signature delimiter `-- ` and at quoted text; in the chat every line must be a signer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from workflows.errors import TextInvalidError
from workflows.people import EMAIL_RE, PHONE_RE, normalize_phone
from workflows.text import check_line

_SIGNER_RE = re.compile(
    r"^(?:(?P<name>[^<>]+?)\s*<(?P<email>[^<>\s]+)>|(?P<bare>[^<>\s,;]+@[^<>\s,;]+))"
    r"(?:\s*[,;]?\s*(?P<phone>\+?[0-9][0-9 .()-]{6,20}))?\s*$")
_ORDER_RE = re.compile(r"^\s*(ordre|order)\s*:\s*(?P<value>\S+)\s*$", re.IGNORECASE)
_YES = {"oui", "yes", "o", "y", "1", "true", "vrai"}
_NO = {"non", "no", "n", "0", "false", "faux"}
MAX_LINES = 2000


@dataclass(frozen=True)
class SignerSpec:
    """One signer asked for: a name, an e-mail, and optionally a mobile (+33…)."""

    name: str
    email: str
    phone: str | None = None


@dataclass
class CollectRequest:
    """What a collect@ body asks for."""

    signers: list[SignerSpec] = field(default_factory=list)
    ordered: bool = False
    unreadable: list[str] = field(default_factory=list)


def _phone(raw: str | None) -> str | None:
    """The mobile in international form, None when absent, "" when it cannot be read."""
    if not raw:
        return None
    phone = normalize_phone(raw)
    return phone if PHONE_RE.match(phone) else ""


def parse_line(line: str) -> SignerSpec | None:
    """The signer one line names, or None when it names none that can be read."""
    match = _SIGNER_RE.match(line.strip().lstrip("-*•").strip())
    if not match:
        return None
    email = (match["email"] or match["bare"]).strip().lower()
    phone = _phone(match["phone"])
    if not EMAIL_RE.match(email) or phone == "":
        return None
    try:
        # The name goes into the signer's certificate: printable, of sane length.
        name = check_line((match["name"] or "").strip().strip('"') or email, "signer_name")
    except TextInvalidError:
        return None
    return SignerSpec(name, email, phone)


def parse_signers(text: str) -> tuple[list[SignerSpec], list[str]]:
    """Signers from lines where each non-blank line is one (the chat), and the lines that
    could not be read."""
    signers, unreadable = [], []
    for line in (text or "").splitlines()[:MAX_LINES]:
        if not line.strip():
            continue
        spec = parse_line(line)
        if spec is None:
            unreadable.append(line.strip())
        else:
            signers.append(spec)
    return signers, unreadable


def parse_body(text: str) -> CollectRequest:
    """Signers, order and the lines that could not be read, from a plain-text mail body."""
    out = CollectRequest()
    for raw in (text or "").splitlines()[:MAX_LINES]:
        if raw.rstrip() == "--" or raw.startswith("-- "):
            break
        line = raw.strip().lstrip("-*•").strip()
        if not line or raw.lstrip().startswith(">"):
            continue
        if match := _ORDER_RE.match(line):
            value = match["value"].lower().strip(".")
            if value in _YES or value in _NO:
                out.ordered = value in _YES
            else:
                out.unreadable.append(raw.strip())
            continue
        spec = parse_line(line)
        if spec is not None:
            out.signers.append(spec)
        elif "@" in line or "<" in line or re.search(r"\+?\d[\d .]{7,}", line):
            out.unreadable.append(raw.strip())
    return out
