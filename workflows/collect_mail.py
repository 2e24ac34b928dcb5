"""collect@ by mail: signers read from the body, one per line, then the collection use case.

A line is `Name <email>` or a bare `email`, optionally followed by a mobile
(`+33 6 12 34 56 78`); `ordre: oui` (or `order: yes`) asks for the set order. Lines with
an address or a number that cannot be read, or a name that cannot go into a certificate
(a control character, U+FFFD, over 200 characters), are listed back and nothing is created,
so a mistyped signer is never silently left out; other prose (greetings) is ignored. Reading
stops at the signature delimiter `-- ` and at quoted text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from workflows.actors import Actor
from workflows.collections import SignerSpec, create_collection
from workflows.errors import TextInvalidError
from workflows.people import EMAIL_RE, PHONE_RE, normalize_phone
from workflows.text import check_line

_SIGNER_RE = re.compile(
    r"^(?:(?P<name>[^<>@]+?)\s*<(?P<email>[^<>\s]+)>|(?P<bare>[^<>\s,;]+@[^<>\s,;]+))"
    r"(?:\s*[,;]?\s*(?P<phone>\+?[0-9][0-9 .()-]{6,20}))?\s*$")
_ORDER_RE = re.compile(r"^\s*(ordre|order)\s*:\s*(?P<value>\S+)\s*$", re.IGNORECASE)
_YES = {"oui", "yes", "o", "y", "1", "true", "vrai"}
_NO = {"non", "no", "n", "0", "false", "faux"}
MAX_LINES = 2000


@dataclass
class CollectRequest:
    signers: list[SignerSpec] = field(default_factory=list)
    ordered: bool = False
    unreadable: list[str] = field(default_factory=list)


def _phone(raw: str | None) -> str | None:
    if not raw:
        return None
    phone = normalize_phone(raw.replace("(", "").replace(")", ""))
    if phone.startswith("0") and len(phone) == 10:  # French national form.
        phone = "+33" + phone[1:]
    return phone if PHONE_RE.match(phone) else ""


def parse_body(text: str) -> CollectRequest:
    """Signers, order and the lines that could not be read, from a plain-text body."""
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
        match = _SIGNER_RE.match(line)
        if match:
            email = (match["email"] or match["bare"]).strip().lower()
            phone = _phone(match["phone"])
            if EMAIL_RE.match(email) and phone != "":
                try:
                    # The name goes into the signer's certificate: printable, of sane length.
                    name = check_line((match["name"] or "").strip().strip('"') or email,
                                      "signer_name")
                except TextInvalidError:
                    out.unreadable.append(raw.strip())
                    continue
                out.signers.append(SignerSpec(name, email, phone))
                continue
        if "@" in line or "<" in line or re.search(r"\+?\d[\d .]{7,}", line):
            out.unreadable.append(raw.strip())
    return out


@dataclass(frozen=True)
class CollectResult:
    request: CollectRequest
    collection: object | None  # the Collection, or None when nothing was created


async def collect_from_mail(svc, actor: Actor, *, cabinet: str | None, subject: str, body: str,
                            attachments: list[tuple[str, bytes]], key: str) -> CollectResult:
    """Starts the collection a collect@ mail asks for, once per message `key`.

    Nothing is created when a line is unreadable or no signer is listed. Raises what
    `create_collection` raises (Document*Error, DelegationMissingError, credit…).
    """
    request = parse_body(body)
    if request.unreadable or not request.signers:
        return CollectResult(request, None)
    title = re.sub(r"\[[a-z0-9-]+\]", "", subject or "").strip()
    collection = await create_collection(
        svc, actor, cabinet=cabinet, documents=attachments, signers=request.signers,
        ordered=request.ordered, title=title, idempotency_key=f"mail:{key}:collect")
    return CollectResult(request, collection)
