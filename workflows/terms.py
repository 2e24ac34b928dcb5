"""The terms of use (CGU) each cabinet's expert accepts before the service opens for it.

The text of each version lives in templates/terms/cgu.<version>.<lang>.md (or in
``PARAPHE_TERMS_DIR``, where an operator publishes a new version); its SHA-256
goes into the evidence log with who accepted it and when. A new version
(``Settings.terms_version``) asks again: until its expert accepts it, a cabinet can
neither seal nor create or launch collections, and nobody signs in it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tortoise.exceptions import IntegrityError

from workflows import clock, evidence, people
from workflows.actors import Actor
from workflows.errors import (
    CabinetNotFoundError,
    NotAMemberError,
    TermsExpertRequiredError,
    TermsNotAcceptedError,
    TermsVersionInvalidError,
)
from workflows.models import Cabinet, Collection, Membership, Person, TermsAcceptance
from workflows.ports import LANGUAGES, TEMPLATES_DIR
from workflows.ports import CoreSettings
from workflows.transactions import in_transaction


TERMS_DIR = TEMPLATES_DIR / "terms"

# (cabinet id, version) pairs known to be accepted. Sealing runs at tens of seals a second:
# once a cabinet has accepted the current version, the check costs no query at all. Only
# acceptances are cached (they are never withdrawn), so an acceptance made by another
# process is seen at the next check; the database opening empties it (paraphe/db.py),
# since a fresh database may reuse cabinet ids.
_accepted: set[tuple[int, str]] = set()


def forget_cache() -> None:
    """Empties the cache of accepted terms (a new database was opened)."""
    _accepted.clear()


def current_version(settings: CoreSettings) -> str:
    """The version of the terms in force (``PARAPHE_TERMS_VERSION``)."""
    return settings.terms_version


def _path(settings: CoreSettings, version: str, language: str) -> Path:
    folder = Path(getattr(settings, "terms_dir", None) or TERMS_DIR)
    return folder / f"cgu.{version}.{language}.md"


def known_version(settings: CoreSettings, version: str) -> bool:
    """True when the text of this version exists in every language."""
    return bool(version) and "/" not in version and all(
        _path(settings, version, lang).is_file() for lang in LANGUAGES)


def text(settings: CoreSettings, version: str, language: str = "fr") -> str:
    """The text of the terms in this language (French when there is no translation)."""
    return _path(settings, version, language if language in LANGUAGES else "fr").read_text(
        encoding="utf-8")


def sha256(settings: CoreSettings, version: str) -> dict[str, str]:
    """The SHA-256 of the text of this version, per language: what the evidence keeps."""
    return {lang: hashlib.sha256(_path(settings, version, lang).read_bytes()).hexdigest()
            for lang in LANGUAGES}


@dataclass(frozen=True)
class Acceptance:
    cabinet: str
    version: str
    accepted_by: str  # the expert's e-mail
    accepted_at: datetime
    already: bool = False  # True when this version was accepted before this call


async def _cabinet(cabinet: Cabinet | int | str) -> Cabinet:
    if isinstance(cabinet, Cabinet):
        return cabinet
    if isinstance(cabinet, int):  # A chat button carries the cabinet's id.
        found = await Cabinet.get_or_none(id=cabinet)
        if found is None:
            raise CabinetNotFoundError(f"no cabinet {cabinet}")
        return found
    return await people.get_cabinet(cabinet)


async def _as_acceptance(row: TermsAcceptance, cab: Cabinet, already: bool) -> Acceptance:
    person = await Person.get(id=row.person_id)
    return Acceptance(cabinet=cab.slug, version=row.version, accepted_by=person.email,
                      accepted_at=row.accepted_at, already=already)


async def accept_terms(svc_or_settings, actor: Actor, cabinet: Cabinet | int | str,
                       version: str, *,
                       person: Person | None = None, via: str | None = None) -> Acceptance:
    """Records that the cabinet's expert accepts this version of the terms for the cabinet.

    The expert is the acting person, or `person` when the operator records an acceptance
    at the command line. Only the current version can be accepted; accepting it again
    changes nothing and returns the first acceptance (``already=True``). Raises
    CabinetNotFoundError, NotAMemberError, TermsExpertRequiredError (not an expert of the
    cabinet) and TermsVersionInvalidError (an old or unknown version).
    `via` names where it was accepted when not on the terms page itself
    ("registration": the CGU accepted while registering), kept in the evidence.
    """
    settings = getattr(svc_or_settings, "settings", svc_or_settings)
    cab = await _cabinet(cabinet)
    if person is None:
        if actor.person_id is None:
            raise TermsExpertRequiredError("name the expert who accepts the terms")
        person = await Person.get(id=actor.person_id)
    elif actor.person_id is not None and actor.person_id != person.id:
        raise TermsExpertRequiredError("a person accepts the terms only for themselves")
    membership = await Membership.get_or_none(person_id=person.id, cabinet_id=cab.id)
    if membership is None:
        raise NotAMemberError(f"{person.email} is not a member of {cab.slug}", cabinet=cab.slug)
    if membership.role != "expert":
        raise TermsExpertRequiredError(
            f"{person.email} is not an expert of {cab.slug}: only its expert accepts the terms",
            cabinet=cab.slug)
    current = current_version(settings)
    if version != current or not known_version(settings, version):
        raise TermsVersionInvalidError(
            f"version {version!r} is not the current version of the terms ({current})",
            version=version, current=current)
    if (done := await TermsAcceptance.get_or_none(cabinet_id=cab.id, version=version)):
        _accepted.add((cab.id, version))
        return await _as_acceptance(done, cab, True)
    try:
        async with in_transaction():
            row = await TermsAcceptance.create(cabinet=cab, person=person, version=version,
                                               accepted_at=clock.now())
            await evidence.record("terms.accepted", actor, cabinet_id=cab.id,
                                  person_id=person.id,
                                  data={"version": version, "email": person.email,
                                        "name": person.name,
                                        "terms_sha256": sha256(settings, version),
                                        **({"via": via} if via else {})})
    except IntegrityError:
        # Another expert of the cabinet (or a double tap) accepted it first: theirs stands.
        row = await TermsAcceptance.get(cabinet_id=cab.id, version=version)
        _accepted.add((cab.id, version))
        return await _as_acceptance(row, cab, True)
    _accepted.add((cab.id, version))
    return await _as_acceptance(row, cab, False)


async def is_accepted(cabinet: Cabinet, settings: CoreSettings) -> bool:
    """True when the cabinet's expert accepted the current version (one indexed look-up,
    none once it is known)."""
    key = (cabinet.id, current_version(settings))
    if key in _accepted:
        return True
    if await TermsAcceptance.exists(cabinet_id=cabinet.id, version=key[1]):
        _accepted.add(key)
        return True
    return False


async def _refusal(cabinet: Cabinet, settings: CoreSettings,
                   person: Person | None) -> TermsNotAcceptedError:
    membership = None if person is None else await Membership.get_or_none(
        person_id=person.id, cabinet_id=cabinet.id)
    role = membership.role if membership else None
    version = current_version(settings)
    return TermsNotAcceptedError(
        f"cabinet {cabinet.slug} is not open: its expert must first accept the terms of use "
        f"(version {version}) with /terms in Telegram or "
        f"`paraphe terms accept {cabinet.slug} --email EXPERT_EMAIL`",
        cabinet=cabinet.slug, version=version, role=role)


async def require_accepted(cabinet: Cabinet, settings: CoreSettings,
                           person: Person | None = None) -> None:
    """Raises TermsNotAcceptedError unless the cabinet accepted the current terms; `person`,
    the one refused, only shapes the message (an expert is told how to accept)."""
    if not await is_accepted(cabinet, settings):
        raise await _refusal(cabinet, settings, person)


async def require_signable(collection: Collection, settings: CoreSettings,
                           person: Person | None = None
                           ) -> None:
    """Raises TermsNotAcceptedError unless signatures may be made in this collection.

    A launched collection stays signable after a new version comes into force, as long as
    its cabinet has accepted terms once: its signers (often the cabinet's clients) were
    invited under accepted terms, cannot do anything about the new ones, and would
    otherwise see their link stop working until the collection expires. Since a launch
    needs the version in force, only collections launched before the new one can be in
    this case. New collections, launches and seals wait for the new version. A cabinet
    that never accepted any terms (collections from before they were enforced) waits too.
    """
    cabinet = await Cabinet.get(id=collection.cabinet_id)
    if await is_accepted(cabinet, settings):
        return
    if collection.launched_at is not None and await TermsAcceptance.exists(
            cabinet_id=cabinet.id):
        return
    raise await _refusal(cabinet, settings, person)


@dataclass(frozen=True)
class CabinetTerms:
    slug: str
    name: str
    version: str
    accepted: bool
    accepted_by: str | None = None
    accepted_at: datetime | None = None


async def status(settings: CoreSettings,
                 cabinets: list[Cabinet] | None = None) -> list[CabinetTerms]:
    """Where each cabinet (all by default) stands with the current version."""
    version = current_version(settings)
    if cabinets is None:
        cabinets = await Cabinet.all().order_by("slug")
    rows = {r.cabinet_id: r for r in await TermsAcceptance.filter(
        version=version, cabinet_id__in=[c.id for c in cabinets] or [0]
    ).prefetch_related("person")}
    out = []
    for cab in cabinets:
        row = rows.get(cab.id)
        out.append(CabinetTerms(slug=cab.slug, name=cab.name, version=version,
                                accepted=row is not None,
                                accepted_by=row.person.email if row else None,
                                accepted_at=row.accepted_at if row else None))
    return out


async def pending_for(person: Person, settings: CoreSettings) -> list[CabinetTerms]:
    """The cabinets this person is an expert of that have not accepted the current terms."""
    cabinets = [m.cabinet for m in await Membership.filter(
        person_id=person.id, role="expert").prefetch_related("cabinet").order_by("id")]
    return [c for c in await status(settings, cabinets) if not c.accepted]
