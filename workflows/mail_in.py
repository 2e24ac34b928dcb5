"""Secret mail-in addresses (seal+<secret>@…): derived from the platform key, never stored.

The secret is ``<person id>_<MAC>``, the MAC being HMAC-SHA256(platform key, "mail-in:<id>:
<generation>") cut to 128 bits: it can be shown again to its owner (`paraphe user show`, the
help@ reply), a database dump reveals none, and a mail finds its sender by primary key, one
indexed read, then a constant-time comparison. Secrets stored in clear by earlier versions
were replaced by their SHA-256 (migration 0002); those addresses still work, found by hash.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from workflows import links, lookups
from workflows.models import Person
from workflows.ports import CoreSettings


_DERIVED = re.compile(r"^([1-9][0-9]{0,9})_([0-9a-f]{32})$")
MAX_ID = 2 ** 31 - 1  # Person ids are 32-bit columns.


def _mac(settings: CoreSettings, person_id: int, generation: int) -> str:
    message = f"mail-in:{person_id}:{generation}".encode()
    return hmac.new(links.link_key(settings), message, hashlib.sha256).hexdigest()[:32]


def secret_for(settings: CoreSettings, person: Person) -> str:
    """The secret of the person's current mail-in address."""
    return f"{person.id}_{_mac(settings, person.id, person.mail_secret_generation)}"


def address_for(settings: CoreSettings, person: Person, cabinet: str | None = None, *,
                command: str = "seal") -> str:
    """<command>+<secret>[+<cabinet>]@<mail domain> (seal@ unless told)."""
    suffix = f"+{cabinet}" if cabinet else ""
    return f"{command}+{secret_for(settings, person)}{suffix}@{settings.mail_domain}"


async def find_person(settings: CoreSettings, secret: str | None) -> Person | None:
    """The person whose mail-in secret this is, or None."""
    if not secret or len(secret) > 64:
        return None
    derived = _DERIVED.match(secret)
    if derived is None:
        digest = hashlib.sha256(secret.encode()).hexdigest()
        return await Person.get_or_none(legacy_mail_secret_sha256=digest)
    person_id = int(derived[1])
    if person_id > MAX_ID:
        return None
    person = await lookups.person(person_id)  # Cached: every RCPT TO asks.
    if person is None:
        return None
    expected = _mac(settings, person.id, person.mail_secret_generation)
    return person if hmac.compare_digest(expected, derived[2]) else None
