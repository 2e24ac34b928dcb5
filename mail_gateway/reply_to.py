"""Where a reply to an outgoing mail should go (its Reply-To), by what the mail is.

- A signer's invitation, reminder and the collection's later news: to the person who
  started the collection, so that a client's question reaches the cabinet instead of
  bouncing at the platform's noreply@.
- An approval request: to the expert's own secret collect@ address, so that replying `OK`
  or `REFUS <motif>` works even where the expert's mail is not DKIM-signed
  (mail_gateway.approval_replies).
- Anything else: no Reply-To (a reply to a sealed document goes to its From, seal@).
"""

from __future__ import annotations

from email.headerregistry import Address

from workflows import mail_in
from workflows.collections.approval_threads import APPROVAL_TEMPLATE
from workflows.models import Notification, Person
from workflows.ports import CoreSettings
from workflows.text import clean_line

# Signer mails whose replies belong to the initiator (a code mail is a robot's: none).
_TO_INITIATOR = ("signer/invitation", "signer/reminder", "signer/completed",
                 "signer/cancelled", "signer/ended")


def _address(name: str, email: str) -> str | None:
    try:
        local, domain = email.rsplit("@", 1)
        return str(Address(display_name=clean_line(name)[:80], username=local,
                           domain=domain))
    except (ValueError, IndexError):  # Not an address the header can carry: none rather.
        return None


async def reply_to(settings: CoreSettings, notification: Notification) -> str | None:
    context = notification.context or {}
    if notification.template in _TO_INITIATOR:
        email = context.get("initiator_email")
        return _address(context.get("initiator") or "", email) if email else None
    if notification.template == APPROVAL_TEMPLATE and notification.person_id:
        person = await Person.get_or_none(id=notification.person_id)
        if person is not None:
            return mail_in.address_for(settings, person, command="collect")
    return None
