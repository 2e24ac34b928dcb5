"""API keys: one per integration, bound to a cabinet, the person it acts for and its scopes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from workflows import clock, evidence, people, text
from workflows.actors import Actor
from workflows.caches import Cache
from workflows.errors import (
    ApiKeyInvalidError,
    ApiKeyNotFoundError,
    ApiKeyRevokedError,
    ApiScopeMissingError,
    ApiScopeUnknownError,
    NotAMemberError,
    PersonInvalidError,
)
from workflows.models import ApiKey, Membership
from workflows.models.apikeys import SCOPES
from workflows.transactions import in_transaction

PREFIX = "pk_"
LAST_USED_GRANULARITY = timedelta(minutes=5)
# A hash of a full key that no key has: lookups of unknown prefixes still compare a digest.
_DUMMY_HASH = hashlib.sha256(b"paraphe-no-such-key").hexdigest()
# Keys by prefix, with cabinet and person: read on every API request, emptied by any write to
# the people tables (a revocation is an UPDATE of api_key), elsewhere within caches.TTL.
_BY_PREFIX = Cache("api_key", "people")


@dataclass(frozen=True)
class CreatedKey:
    """A new key: the row and the secret token, which is shown once and never kept."""

    key: ApiKey
    token: str


def _digest(token: str) -> str:
    # The token carries 256 random bits, so a plain SHA-256 is enough (no password stretching).
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_scopes(scopes: list[str] | tuple[str, ...] | None) -> list[str]:
    """Returns the scopes in canonical order; raises ApiScopeUnknownError."""
    wanted = list(SCOPES) if not scopes else [s.strip() for s in scopes if s.strip()]
    for scope in wanted:
        if scope not in SCOPES:
            raise ApiScopeUnknownError(f"unknown scope {scope!r}: use seal, collect or read",
                                       scope=scope)
    return [s for s in SCOPES if s in wanted]


async def create_key(actor: Actor, *, cabinet: str, email: str, name: str,
                     scopes: list[str] | None = None) -> CreatedKey:
    """Creates a key acting for the person `email` in `cabinet`.

    A person acting (not the operator) must be the cabinet's expert. Raises
    CabinetNotFoundError, PersonNotFoundError, NotAMemberError, ExpertRequiredError,
    ApiScopeUnknownError, PersonInvalidError (empty name), TextInvalidError.
    """
    wanted = check_scopes(scopes)
    name = text.check_line(name, "name", required=False)
    if not name:
        raise PersonInvalidError("an API key needs a name (the software using it)")
    cab = await people.get_cabinet(cabinet)
    await people.require_expert(actor, cab)
    person = await people.get_person(email)
    if not await Membership.exists(person_id=person.id, cabinet_id=cab.id):
        raise NotAMemberError(f"{person.email} is not a member of {cab.slug}", cabinet=cab.slug)
    prefix = secrets.token_hex(6)
    token = f"{PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    async with in_transaction():
        key = await ApiKey.create(cabinet=cab, person=person, name=name,
                                  prefix=prefix, key_hash=_digest(token), scopes=wanted,
                                  created_at=clock.now())
        await evidence.record("apikey.created", actor, cabinet_id=cab.id, person_id=person.id,
                              data={"key_id": key.id, "prefix": prefix, "name": key.name,
                                    "scopes": wanted})
    return CreatedKey(key=key, token=token)


async def list_keys(cabinet: str) -> list[ApiKey]:
    """Every key of the cabinet, revoked ones included, oldest first."""
    cab = await people.get_cabinet(cabinet)
    return await ApiKey.filter(cabinet_id=cab.id).prefetch_related("person").order_by("id")


async def revoke_key(actor: Actor, *, cabinet: str, key_id: int) -> bool:
    """Revokes a key at once; returns False when it already was. A person acting must be
    the cabinet's expert. Raises ApiKeyNotFoundError, ExpertRequiredError."""
    cab = await people.get_cabinet(cabinet)
    await people.require_expert(actor, cab)
    key = await ApiKey.get_or_none(id=key_id, cabinet_id=cab.id)
    if key is None:
        raise ApiKeyNotFoundError(f"no API key {key_id} in {cab.slug}", key_id=key_id)
    async with in_transaction():
        done = await ApiKey.filter(id=key.id, revoked_at=None).update(revoked_at=clock.now())
        if done:
            await evidence.record("apikey.revoked", actor, cabinet_id=cab.id,
                                  person_id=key.person_id, data={"key_id": key.id,
                                                                 "prefix": key.prefix})
    return bool(done)


async def authenticate(token: str | None) -> ApiKey:
    """The live key for a bearer token, with its cabinet and person loaded.

    Raises ApiKeyInvalidError (missing, malformed or unknown) or ApiKeyRevokedError.
    """
    prefix = ""
    if token and token.startswith(PREFIX) and len(token) < 200:
        prefix = token[len(PREFIX):].split("_", 1)[0]
    # One joined query, cached: this runs on every API request.
    key = await _BY_PREFIX.load(prefix, ApiKey.filter(prefix=prefix).select_related(
        "cabinet", "person").first) if prefix else None
    # Compare a digest even for unknown prefixes, so timing tells nothing about which exist.
    expected = key.key_hash if key is not None else _DUMMY_HASH
    matches = hmac.compare_digest(_digest(token or ""), expected)
    if key is None or not matches:
        raise ApiKeyInvalidError("missing or unknown API key")
    if key.revoked_at is not None:
        raise ApiKeyRevokedError("this API key was revoked")
    now = clock.now()
    # Written at most every few minutes, so that a busy integration does not write per request.
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_GRANULARITY:
        await ApiKey.filter(id=key.id).update(last_used_at=now)
        key.last_used_at = now
    return key


def require_scope(key: ApiKey, scope: str) -> None:
    """Raises ApiScopeMissingError unless the key holds `scope`."""
    if scope not in (key.scopes or []):
        raise ApiScopeMissingError(f"this API key lacks the {scope!r} scope", scope=scope)


def actor_for(key: ApiKey, **origin) -> Actor:
    """The actor of a request made with this key: its person, on the api channel."""
    return Actor(person_id=key.person_id, channel="api",
                 origin={"api_key": key.id, **origin})
