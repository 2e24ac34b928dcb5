"""Personal registration links: ``<PARAPHE_PUBLIC_URL>/r/<token>`` opens the registration web
page of one person (the same core flow as /register in the bot).

A token is 256 random bits from `secrets`; only its SHA-256 is stored, with an expiry. A
token is found by its hash (an index lookup on a digest leaks nothing of the token) and the
stored digest is compared again in constant time. Several links of one person may be live
at once (each `user show` or request mints one); each works until it expires.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from workflows import clock, evidence, links, notifications, registration
from workflows.actors import Actor
from workflows.errors import (
    RegistrationLinkExpiredError,
    RegistrationLinkInvalidError,
    RegistrationNotNeededError,
    SignerLinkInvalidError,
)
from workflows.models import Notification, Person, RegistrationLink, Signer
from workflows.ports import CoreSettings
from workflows.services import Services
from workflows.transactions import in_transaction


LINK_LIFETIME = timedelta(days=30)
MAX_TOKEN = 128


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def registration_link(settings: CoreSettings, person: Person) -> str:
    """Mints a new personal link to the person's registration page; returns its URL."""
    token = secrets.token_urlsafe(32)
    now = clock.now()
    await RegistrationLink.create(person=person, token_hash=token_hash(token), created_at=now,
                                  expires_at=now + LINK_LIFETIME)
    return f"{settings.public_url}/r/{token}"


async def person_for(token: str) -> Person:
    """The person a link belongs to.

    Raises RegistrationLinkInvalidError (unknown token), RegistrationLinkExpiredError.
    """
    if not token or len(token) > MAX_TOKEN:
        raise RegistrationLinkInvalidError("this registration link is not valid")
    digest = token_hash(token)
    row = await RegistrationLink.get_or_none(token_hash=digest)
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        raise RegistrationLinkInvalidError("this registration link is not valid")
    if row.expires_at <= clock.now():
        raise RegistrationLinkExpiredError("this registration link has expired: ask for a new one")
    return await Person.get(id=row.person_id)


def web_actor(person: Person, *, ip: str | None = None, user_agent: str | None = None
              ) -> Actor:
    """The person acting on their registration page (IP and browser kept in the evidence)."""
    return Actor(person_id=person.id, channel="web", origin={"ip": ip, "user_agent": user_agent})


async def send_registration_link(svc: Services, actor: Actor, person: Person) -> str:
    """Mails the person a new registration link (a notification intention); returns the URL.

    Raises RegistrationNotNeededError for someone who never signs in their own name.
    """
    if not await registration.needs_registration(person):
        raise RegistrationNotNeededError(
            "only experts and holders of the sign delegation register: you have nothing to do")
    async with in_transaction():
        url = await registration_link(svc.settings, person)
        await notifications.enqueue(
            channel="mail", template="registrant/registration_link", recipient=person.email,
            language=person.language, person_id=person.id,
            context={"name": person.name, "link": url, "days": LINK_LIFETIME.days})
        await evidence.record("registration.link_sent", actor, person_id=person.id,
                              data={"channel": "mail"})
    return url


# A person asking again within this delay gets no second mail (the first is on its way).
RESEND_AFTER = timedelta(minutes=10)


async def send_to_signer(svc: Services, signer_token: str, *, ip: str | None = None,
                         user_agent: str | None = None) -> str:
    """From a signer link (/s/<token>) of a member told to register before signing: mails
    them their registration link; returns the address it goes to.

    Raises SignerLinkInvalidError (unknown link, or a signer who is not a member),
    RegistrationNotNeededError.
    """
    signer = None
    if signer_token and len(signer_token) <= MAX_TOKEN:
        signer = await Signer.get_or_none(token_hash=links.token_hash(signer_token))
    if signer is None or signer.person_id is None:
        raise SignerLinkInvalidError("this signature link is not valid")
    person = await Person.get(id=signer.person_id)
    recent = await Notification.filter(
        person_id=person.id, template="registrant/registration_link",
        created_at__gt=clock.now() - RESEND_AFTER).exists()
    if not recent:
        await send_registration_link(svc, web_actor(person, ip=ip, user_agent=user_agent),
                                     person)
    return person.email
