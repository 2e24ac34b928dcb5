"""Cabinets, people and memberships: creation and look-ups shared by every channel."""

from __future__ import annotations

import re
import secrets

import phonenumbers
from stdnum.exceptions import InvalidChecksum, InvalidLength, ValidationError
from stdnum.fr import siren as stdnum_siren
from tortoise.exceptions import IntegrityError

from workflows import clock, evidence, notifications, text
from workflows.actors import Actor
from workflows.errors import (
    CabinetAmbiguousError,
    CabinetExistsError,
    CabinetInvalidError,
    CabinetNotFoundError,
    CabinetSirenSetError,
    ExpertRequiredError,
    MemberNotRemovableError,
    MembershipExistsError,
    NotAMemberError,
    PersonInvalidError,
    PersonNotFoundError,
    SirenInvalidError,
)
from workflows.models import Cabinet, Membership, Person
from workflows.models.people import ROLES
from workflows.transactions import in_transaction

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
# Words the cabinet space's own pages take (/c/login, /c/sessions…): no cabinet is named so.
RESERVED_SLUGS = frozenset({"login", "logout", "sessions", "static", "api"})
EMAIL_RE = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
PHONE_RE = re.compile(r"^\+[1-9][0-9]{7,14}$")


def normalize_email(email: str) -> str:
    return email.strip().lower()


def normalize_phone(phone: str) -> str:
    """A phone number as people type it, in E.164 form when it is a valid number of its
    country's plan (the `phonenumbers` library, Google's libphonenumber data): spaces, dots,
    dashes and brackets allowed, `00` read as `+`, a national number read as French. What
    is not a valid number comes back with its separators dropped, for the caller's check
    against PHONE_RE to refuse."""
    number = re.sub(r"[\s.()-]", "", phone.strip())
    if number.startswith("00"):
        number = "+" + number[2:]
    try:
        parsed = phonenumbers.parse(number, "FR")
    except phonenumbers.NumberParseException:
        return number
    if not phonenumbers.is_valid_number(parsed):
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


# The regions whose mobiles get SMS when a deployment says nothing else (PARAPHE_SMS_REGIONS).
SMS_REGIONS = ("FR",)
_MOBILE_TYPES = (phonenumbers.PhoneNumberType.MOBILE,
                 phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def sms_regions(settings) -> tuple[str, ...]:
    """The regions (ISO 3166 codes) whose mobile numbers may receive SMS in this deployment."""
    raw = getattr(settings, "sms_regions", None) or ",".join(SMS_REGIONS)
    return tuple(x.strip().upper() for x in str(raw).split(",") if x.strip())


def is_sms_number(phone: str, regions: tuple[str, ...] = SMS_REGIONS) -> bool:
    """True when `phone` (E.164) is a valid mobile number of one of `regions`: a code sent
    to a landline or to a country the deployment does not serve would never arrive."""
    try:
        parsed = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return False
    return (phonenumbers.is_valid_number(parsed)
            and phonenumbers.region_code_for_number(parsed) in regions
            and phonenumbers.number_type(parsed) in _MOBILE_TYPES)


def normalize_siren(siren: str) -> str:
    """The SIREN as nine digits (spaces and dots as people type them dropped), its Luhn
    check digit verified by python-stdnum; raises SirenInvalidError (details: siren,
    reason = format | length | checksum)."""
    raw = (siren or "").strip()
    try:
        return stdnum_siren.validate(raw)
    except ValidationError as exc:
        reason, why = {InvalidChecksum: ("checksum", "its check digit (Luhn) is wrong"),
                       InvalidLength: ("length", "nine digits expected")}.get(
            type(exc), ("format", "nine digits expected"))
        raise SirenInvalidError(f"invalid SIREN {raw!r}: {why}", siren=raw[:32],
                                reason=reason) from None


async def create_cabinet(actor: Actor, *, slug: str, name: str,
                         siren: str | None = None) -> Cabinet:
    """Creates a cabinet; raises CabinetInvalidError, TextInvalidError or CabinetExistsError."""
    if not SLUG_RE.match(slug or ""):
        raise CabinetInvalidError(
            f"invalid cabinet slug {slug!r}: use 2 to 63 lowercase letters, digits or hyphens")
    if slug in RESERVED_SLUGS:
        raise CabinetInvalidError(f"the cabinet slug {slug!r} is reserved: choose another")
    name = text.check_line(name, "name", required=False)
    if not name:
        raise CabinetInvalidError("a cabinet needs a name")
    if siren is not None:
        siren = normalize_siren(siren)
    try:
        async with in_transaction():
            cabinet = await Cabinet.create(slug=slug, name=name, siren=siren,
                                           created_at=clock.now())
            await evidence.record("cabinet.created", actor, cabinet_id=cabinet.id,
                                  data={"slug": slug, "name": cabinet.name, "siren": siren})
    except IntegrityError:
        raise CabinetExistsError(f"cabinet {slug!r} already exists", slug=slug) from None
    return cabinet


async def set_cabinet_siren(actor: Actor, cabinet: Cabinet, siren: str) -> Cabinet:
    """Gives a cabinet its SIREN (its seal names it). The operator may set or correct it; an
    expert of the cabinet may give it only while it has none (registration asks them).

    Raises SirenInvalidError, NotAMemberError (not an expert of it), CabinetSirenSetError
    (an expert changing a SIREN already set: the operator does that).
    """
    siren = normalize_siren(siren)
    by_expert = actor.person_id is not None
    if by_expert and not await Membership.exists(person_id=actor.person_id,
                                                 cabinet_id=cabinet.id, role="expert"):
        raise NotAMemberError("only an expert of the cabinet gives its SIREN",
                              cabinet=cabinet.slug)
    async with in_transaction():
        previous = (await Cabinet.get(id=cabinet.id)).siren
        # An expert's update holds only while the cabinet has none: of two experts giving
        # one at once, the second finds it set.
        rows = Cabinet.filter(id=cabinet.id, **({"siren__isnull": True} if by_expert else {}))
        changed = previous != siren and await rows.update(siren=siren)
        if changed:
            await evidence.record("cabinet.siren_set", actor, cabinet_id=cabinet.id,
                                  data={"siren": siren, "previous": previous})
    if not changed and previous != siren:
        current = (await Cabinet.get(id=cabinet.id)).siren  # Another expert's, just now.
        if current != siren:
            raise CabinetSirenSetError(
                f"cabinet {cabinet.slug!r} already has SIREN {current}: the operator "
                "corrects it", cabinet=cabinet.slug)
    cabinet.siren = siren
    return cabinet


async def get_cabinet(slug: str) -> Cabinet:
    """The cabinet with this slug; raises CabinetNotFoundError."""
    cabinet = await Cabinet.get_or_none(slug=slug)
    if cabinet is None:
        raise CabinetNotFoundError(f"unknown cabinet {slug!r}", slug=slug)
    return cabinet


async def add_person(actor: Actor, *, email: str, name: str, cabinet: str, role: str,
                     phone: str | None = None, language: str = "fr") -> tuple[Person, Membership]:
    """Creates a person with a membership, or adds a membership to an existing person.

    Raises PersonInvalidError, TextInvalidError, CabinetNotFoundError, MembershipExistsError.
    """
    email = normalize_email(email)
    if not EMAIL_RE.match(email):
        raise PersonInvalidError(f"invalid e-mail address {email!r}")
    if role not in ROLES:
        raise PersonInvalidError(f"invalid role {role!r}: expert or collaborator")
    if phone is not None:
        phone = normalize_phone(phone)
        if not PHONE_RE.match(phone):
            raise PersonInvalidError(f"invalid mobile number {phone!r}: international format +33…")
    if language not in ("fr", "en"):
        raise PersonInvalidError(f"invalid language {language!r}: fr or en")
    name = text.check_line(name, "name", required=False)
    cab = await get_cabinet(cabinet)
    async with in_transaction():
        person = await Person.get_or_none(email=email)
        if person is None:
            if not name:
                raise PersonInvalidError("a person needs a name")
            person = await Person.create(
                email=email, name=name, phone=phone, language=language,
                telegram_link_code=secrets.token_urlsafe(16),
                created_at=clock.now())
            await evidence.record("person.created", actor, person_id=person.id,
                                  data={"email": email, "name": person.name})
        elif await Membership.exists(person=person, cabinet=cab):
            raise MembershipExistsError(f"{email} is already a member of {cabinet}",
                                        email=email, cabinet=cabinet)
        membership = await Membership.create(person=person, cabinet=cab, role=role,
                                             created_at=clock.now())
        await evidence.record("membership.created", actor, cabinet_id=cab.id,
                              person_id=person.id, data={"email": email, "role": role})
    return person, membership


async def get_person(email: str) -> Person:
    """The person with this e-mail; raises PersonNotFoundError."""
    person = await find_person_by_email(email)
    if person is None:
        raise PersonNotFoundError(f"unknown person {normalize_email(email)!r}")
    return person


async def find_person_by_email(email: str) -> Person | None:
    return await Person.get_or_none(email=normalize_email(email))


async def memberships_of(person: Person) -> list[Membership]:
    return await Membership.filter(person=person).prefetch_related("cabinet").order_by("id")


async def resolve_cabinet(person: Person, slug: str | None) -> Cabinet:
    """The cabinet this person acts for: the one named, or their only one.

    Raises CabinetNotFoundError, NotAMemberError, CabinetAmbiguousError (details["cabinets"]).
    """
    return (await resolve_membership(person, slug)).cabinet


async def acting_membership(person_id: int, slug: str | None) -> Membership:
    """`resolve_membership` for a person known by id (an actor), with the person loaded too:
    one query when the cabinet is named and the person belongs to it."""
    if slug:
        membership = await Membership.filter(person_id=person_id, cabinet__slug=slug) \
            .select_related("cabinet", "person").first()
        if membership is not None:
            return membership
    person = await Person.get(id=person_id)
    membership = await resolve_membership(person, slug)  # The only one, or the error.
    membership.person = person
    return membership


async def resolve_membership(person: Person, slug: str | None) -> Membership:
    """`resolve_cabinet`, giving the membership (its role, its cabinet loaded) so that a
    caller checking a right (`delegations.basis`) need not read it again."""
    if slug:
        # One joined query: this runs on every seal and signature of every channel.
        membership = await Membership.filter(person_id=person.id, cabinet__slug=slug) \
            .select_related("cabinet").first()
        if membership is not None:
            return membership
        await get_cabinet(slug)
        raise NotAMemberError(f"{person.email} is not a member of {slug}", cabinet=slug)
    memberships = await memberships_of(person)
    if len(memberships) == 1:
        return memberships[0]
    if not memberships:
        raise NotAMemberError(f"{person.email} is not a member of any cabinet")
    raise CabinetAmbiguousError(
        f"{person.email} belongs to several cabinets; name one",
        cabinets=[m.cabinet.slug for m in memberships])


async def require_expert(actor: Actor, cabinet: Cabinet) -> None:
    """Passes for the operator (no person) and the cabinet's experts; raises
    ExpertRequiredError for anyone else (a collaborator, a member of another cabinet)."""
    if actor.person_id is None:
        return
    if not await Membership.exists(person_id=actor.person_id, cabinet_id=cabinet.id,
                                   role="expert"):
        raise ExpertRequiredError("only the cabinet's expert manages its members",
                                  cabinet=cabinet.slug)


async def invite_collaborator(settings, actor: Actor, cabinet: Cabinet, *, email: str,
                              name: str, language: str = "fr") -> Person:
    """The cabinet's expert adds a collaborator (a new person or one known already), who
    gets a welcome mail saying who added them and where to sign in. The evidence names the
    expert as actor.

    Raises ExpertRequiredError, PersonInvalidError, TextInvalidError, MembershipExistsError.
    """
    await require_expert(actor, cabinet)
    inviter = await Person.get_or_none(id=actor.person_id) if actor.person_id else None
    async with in_transaction():
        person, _ = await add_person(actor, email=email, name=name, cabinet=cabinet.slug,
                                     role="collaborator", language=language)
        await notifications.enqueue(
            channel="mail", template="member/welcome", recipient=person.email,
            language=person.language, person_id=person.id,
            context={"name": person.name, "email": person.email, "cabinet": cabinet.name,
                     "expert": inviter.name if inviter else "Paraphe",
                     "link": f"{settings.public_url}/c/login"})
    return person


async def remove_collaborator(actor: Actor, cabinet: Cabinet, person_id: int) -> bool:
    """The cabinet's expert removes a collaborator (their delegations go with the
    membership); False when they were not a member. Raises ExpertRequiredError,
    MemberNotRemovableError (an expert)."""
    await require_expert(actor, cabinet)
    async with in_transaction():
        membership = await Membership.get_or_none(person_id=person_id, cabinet_id=cabinet.id)
        if membership is None:
            return False
        if membership.role == "expert":
            raise MemberNotRemovableError("an expert is not removed here: ask the operator",
                                          cabinet=cabinet.slug)
        person = await Person.get(id=person_id)
        await membership.delete()
        await evidence.record("membership.removed", actor, cabinet_id=cabinet.id,
                              person_id=person_id, data={"email": person.email,
                                                         "role": membership.role})
    return True


async def members_of(cabinet: Cabinet) -> list[Membership]:
    """The cabinet's memberships, experts first, with each person and their delegations."""
    rows = await Membership.filter(cabinet_id=cabinet.id).prefetch_related(
        "person", "delegations")
    return sorted(rows, key=lambda m: (m.role != "expert", m.person.name.lower(), m.id))
