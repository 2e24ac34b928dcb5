"""The seals a cabinet made, read back from the evidence log (the one record of each):
who sealed, when, through which channel, the file's name and hashes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from workflows.models import Cabinet, EvidenceEvent, Membership, Person

LIMIT = 100


@dataclass(frozen=True)
class SealMade:
    at: datetime
    person: str | None  # the sealer's name; None for the operator or an integration's key
    email: str | None
    channel: str
    filename: str
    source_sha256: str
    sealed_sha256: str


async def seals_made(cabinet: Cabinet, person_id: int, *, limit: int = LIMIT) -> list[SealMade]:
    """The cabinet's latest seals that this member may see, newest first: every one for an
    expert, their own for a collaborator (NotAMember: none)."""
    membership = await Membership.get_or_none(person_id=person_id, cabinet_id=cabinet.id)
    if membership is None:
        return []
    query = EvidenceEvent.filter(kind="seal.applied", cabinet_id=cabinet.id)
    if membership.role != "expert":
        query = query.filter(person_id=person_id)
    rows = await query.order_by("-id").limit(limit)
    people = {p.id: p for p in await Person.filter(
        id__in=[r.person_id for r in rows if r.person_id] or [0])}
    out = []
    for r in rows:
        who = people.get(r.person_id)
        out.append(SealMade(at=r.at, person=who.name if who else None,
                            email=who.email if who else None, channel=r.channel,
                            filename=str(r.data.get("filename", "")),
                            source_sha256=str(r.data.get("source_sha256", "")),
                            sealed_sha256=str(r.data.get("sealed_sha256", ""))))
    return out
