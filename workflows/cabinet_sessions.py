"""Signing in to the cabinet space (/c/) without a password, and its sessions.

A member asks with their e-mail address; they get by mail a 6-digit code and a one-time
link (the same code rules as every other code: workflows/otp.py — `secrets`, salted digest,
10 minutes, 5 tries that hold under concurrency, rate-limited per address). Either opens a
session kept server-side (only the SHA-256 of its token is stored), so that the member can
list their sessions and end any of them. An address nobody uses gets the same answer and
no mail: the page cannot tell who has an account.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from workflows import clock, evidence, notifications, otp, person_codes, text
from workflows.actors import Actor
from workflows.errors import OtpExpiredError, OtpRateLimitedError
from workflows.models import CabinetSession, Membership, Person, PersonCode
from workflows.people import EMAIL_RE, normalize_email
from workflows.ports import CoreSettings
from workflows.transactions import in_transaction

PURPOSE = "cabinet_sign_in"
SESSION_LIFETIME = timedelta(days=7)
# last_seen_at is written at most this often (a page view is not a database write).
SEEN_EVERY = timedelta(minutes=1)
MAX_TOKEN = 128
USER_AGENT_LIMIT = 200


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Opened:
    """A session just opened: its row and the token the browser keeps (given once)."""
    session: CabinetSession
    token: str


def _actor(person: Person | None, ip: str | None, user_agent: str | None) -> Actor:
    return Actor(person_id=person.id if person else None, channel="web",
                 origin={"ip": ip, "user_agent": text.clean_line(user_agent, USER_AGENT_LIMIT)})


async def _member(email: str) -> Person | None:
    email = normalize_email(email or "")[:254]
    if not EMAIL_RE.match(email):
        return None
    person = await Person.get_or_none(email=email)
    if person is None or not await Membership.exists(person_id=person.id):
        return None
    return person


async def ask_sign_in(settings: CoreSettings, email: str) -> bool:
    """Mails a member a sign-in code and link; returns whether a mail was recorded.

    Returns False, and sends nothing, for an address that is no member's and while the
    address's codes are rate-limited: the caller answers alike in every case.
    """
    person = await _member(email)
    if person is None:
        return False
    link_token = secrets.token_urlsafe(32)
    try:
        async with in_transaction():
            code = await person_codes.issue(person, purpose=PURPOSE, channel="mail",
                                            bound_to=token_hash(link_token))
            await notifications.enqueue(
                channel="mail", template="member/sign_in", recipient=person.email,
                language=person.language, person_id=person.id,
                context={"name": person.name, "code": code,
                         "link": f"{settings.public_url}/c/login/{link_token}",
                         "minutes": int(otp.CODE_LIFETIME.total_seconds() // 60)})
    except OtpRateLimitedError:
        return False
    return True


async def open_session(person: Person, *, ip: str | None, user_agent: str | None,
                       how: str) -> Opened:
    """A new session for the person (`how`: code or link, kept in the evidence)."""
    now = clock.now()
    token = secrets.token_urlsafe(32)
    async with in_transaction():
        row = await CabinetSession.create(
            person_id=person.id, token_hash=token_hash(token),
            csrf_secret=secrets.token_hex(32), created_at=now, last_seen_at=now,
            expires_at=now + SESSION_LIFETIME,
            user_agent=text.clean_line(user_agent, USER_AGENT_LIMIT),
            ip=text.clean_line(ip, 64) or None)
        await evidence.record("cabinet_session.opened", _actor(person, ip, user_agent),
                              person_id=person.id, data={"session": row.id, "how": how})
    return Opened(row, token)


async def sign_in_with_code(email: str, code: str, *, ip: str | None = None,
                            user_agent: str | None = None) -> Opened:
    """Opens a session when `code` is the live sign-in code of this address.

    Raises OtpExpiredError (nothing waiting — also for an unknown address), OtpLockedError,
    OtpInvalidError (details: attempts_left).
    """
    person = await _member(email)
    row = None if person is None else await PersonCode.filter(
        person_id=person.id, purpose=PURPOSE).order_by("-id").first()
    if person is None or row is None:
        raise OtpExpiredError("no code is waiting: ask for a new one")
    await person_codes.check_and_consume(person, code, purpose=PURPOSE, bound_to=row.bound_to)
    return await open_session(person, ip=ip, user_agent=user_agent, how="code")


async def sign_in_with_link(link_token: str, *, ip: str | None = None,
                            user_agent: str | None = None) -> Opened:
    """Opens a session from the one-time link of a sign-in mail (its code dies with it).

    Raises OtpExpiredError for an unknown, used, replaced or expired link.
    """
    now = clock.now()
    row = None
    if link_token and len(link_token) <= MAX_TOKEN:
        row = await PersonCode.get_or_none(purpose=PURPOSE, bound_to=token_hash(link_token))
    if row is None or row.state != "active" or row.expires_at <= now \
            or row.attempts >= otp.MAX_ATTEMPTS:
        raise OtpExpiredError("this sign-in link no longer works: ask for a new one")
    used = await PersonCode.filter(id=row.id, state="active").update(state="used", used_at=now)
    if used != 1:
        raise OtpExpiredError("this sign-in link was already used: ask for a new one")
    person = await Person.get(id=row.person_id)
    return await open_session(person, ip=ip, user_agent=user_agent, how="link")


async def session_for(token: str | None) -> CabinetSession | None:
    """The live session of this cookie token (person loaded), or None."""
    if not token or len(token) > MAX_TOKEN:
        return None
    row = await CabinetSession.get_or_none(token_hash=token_hash(token)).prefetch_related(
        "person")
    now = clock.now()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    if row.last_seen_at <= now - SEEN_EVERY:
        await CabinetSession.filter(id=row.id).update(last_seen_at=now)
        row.last_seen_at = now
    return row


async def sessions_of(person_id: int) -> list[CabinetSession]:
    """The person's live sessions, newest first."""
    return await CabinetSession.filter(person_id=person_id, revoked_at__isnull=True,
                                       expires_at__gt=clock.now()).order_by("-id")


async def revoke_session(actor: Actor, session_id: int) -> bool:
    """Ends one of the actor's own sessions; False when it was not theirs or already ended."""
    async with in_transaction():
        done = await CabinetSession.filter(id=session_id, person_id=actor.person_id,
                                           revoked_at__isnull=True).update(
            revoked_at=clock.now())
        if done:
            await evidence.record("cabinet_session.revoked", actor, person_id=actor.person_id,
                                  data={"session": session_id})
    return bool(done)
