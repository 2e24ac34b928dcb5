"""A collection as one of its signers sees it: what they may do now, and which version of
each document they (and the API) are served. Pages, the chat and the API ask here.

Two rules, decided once:

- *May the signer act?* `blocker` says what stops them (link expired, already signed or
  declined, not their turn), or None. Every signer action checks it (`require_actionable`);
  the page shows the same refusal, except to a signer who already signed while the
  collection is under way or complete, who has something to see (their confirmation, the
  signed copies).
- *Which version is served?* The original, until the collection is completed and
  finalised: only then the signed copy (with its document timestamps) and the evidence
  report. A collection under way, or one that ended without completing, never serves an
  intermediate version: it holds signatures of a document that is not final. This is what
  the signer pages always showed; the API's download (which served the latest version in
  any state) now follows it too.
- *Is the signer's text message late?* `sms_delayed`: their latest code went by SMS and
  the SMS provider failed at least once (it is being retried) or for good; the page then
  says so and offers the code by mail.
"""

from __future__ import annotations

from dataclasses import dataclass

from workflows import clock, links, notifications, personal_certificates
from workflows.collections import notices
from workflows.errors import (
    AlreadyDeclinedError,
    AlreadySignedError,
    LinkExpiredError,
    NotYourTurnError,
    ParapheError,
    SignerLinkInvalidError,
)
from workflows.models import (
    Cabinet,
    Collection,
    CollectionDocument,
    Document,
    Notification,
    Person,
    Registration,
    Signer,
    SignerCode,
)
from workflows.models.collections import ENDED

MAX_TOKEN = 128


# --- the rules ---------------------------------------------------------------------------

def blocker(collection: Collection, signer: Signer, *, turn: bool) -> ParapheError | None:
    """What stops this signer from acting now, or None when they may open a code and sign
    or decline. `turn`: nobody before them (in a set order) is still to sign."""
    state = collection.state
    if state in ENDED:
        if state == "completed" and signer.state == "signed":
            return AlreadySignedError("you have already signed", state=state)
        if signer.state == "declined":
            return AlreadyDeclinedError("you have declined to sign", state=state)
        return LinkExpiredError(f"the collection is {state}", state=state)
    if state != "in_progress":
        return SignerLinkInvalidError("this signature link is not valid")
    if collection.expires_at is not None and collection.expires_at <= clock.now():
        return LinkExpiredError("the collection has expired", state="expired")
    if signer.state == "signed":
        return AlreadySignedError("you have already signed")
    if signer.state == "declined":
        return AlreadyDeclinedError("you have declined to sign")
    if not turn:
        return NotYourTurnError("the signers before you have not all signed yet")
    return None


async def is_turn(collection: Collection, signer: Signer) -> bool:
    """Nobody before this signer (in a set order) is still to sign."""
    if not collection.ordered:
        return True
    return not await Signer.filter(collection_id=collection.id, position__lt=signer.position,
                                   state__not="signed").exists()


async def require_actionable(collection: Collection, signer: Signer) -> None:
    """Raises what stops this signer from acting now (see `blocker`)."""
    found = blocker(collection, signer, turn=await is_turn(collection, signer))
    if found is not None:
        raise found


def signed_copy_available(collection: Collection) -> bool:
    """The signed copies and the evidence report are served once the collection is
    completed and finalised (document timestamps added, report sealed)."""
    return collection.state == "completed" and collection.finalized_at is not None


def signed_name(filename: str) -> str:
    """The file name of a document's signed copy."""
    stem = filename[:-4] if filename.lower().endswith(".pdf") else filename
    return f"{stem}-signe.pdf"


@dataclass(frozen=True)
class ServedDocument:
    """The version of one document a signer or the API gets, and the name it is given."""

    document: Document
    filename: str
    signed: bool


def served(collection: Collection, row: CollectionDocument) -> ServedDocument:
    """The version of `row` served now (its `original` and `current` loaded)."""
    if signed_copy_available(collection):
        return ServedDocument(row.current or row.original, signed_name(row.filename), True)
    return ServedDocument(row.original, row.filename, False)


# --- the signer's view -------------------------------------------------------------------

@dataclass
class SignerView:
    """What the signer page shows, and what the signer may do now."""

    collection: Collection
    signer: Signer
    cabinet: Cabinet
    initiator: Person
    documents: list[CollectionDocument]
    signer_count: int
    signed_count: int
    turn: bool  # True when nobody before this signer (in a set order) is still to sign
    # The message of the signer's latest code when it went by SMS (None otherwise).
    code_sms: Notification | None = None
    # A member who signs in their own name and whose registration waits for the operator's
    # review: told so before any code, since without the certificate they cannot sign yet.
    registration_waiting: bool = False

    @property
    def sms_delayed(self) -> bool:
        """The signer's latest code went by SMS and has not gone out: the provider failed
        at least once and the message waits for its retry, or it failed for good. The
        signer may then ask for the code by mail."""
        n = self.code_sms
        if n is None or self.blocker is not None:
            return False
        if n.state == "failed":
            return n.last_error != notifications.REPLACED_CODE
        return n.state in ("pending", "sending") and n.attempts >= 1 and bool(n.last_error)

    @property
    def ended(self) -> bool:
        return self.collection.state in ENDED

    @property
    def blocker(self) -> ParapheError | None:
        """What stops the signer from acting now (asking a code, signing, declining)."""
        return blocker(self.collection, self.signer, turn=self.turn)

    @property
    def can_sign(self) -> bool:
        return self.blocker is None

    @property
    def page_error(self) -> ParapheError | None:
        """The refusal the signer's page answers with, or None when it has something to
        show: the signer may act, signed already (under way: their confirmation;
        completed: the signed copies), or declined (the confirmation of their refusal)."""
        found = self.blocker
        return None if isinstance(found, AlreadySignedError | AlreadyDeclinedError) else found

    @property
    def signed_copy(self) -> bool:
        """The signed copies and the evidence report are served."""
        return signed_copy_available(self.collection)

    def served(self, row: CollectionDocument) -> ServedDocument:
        return served(self.collection, row)


async def signer_by_token(token: str) -> Signer:
    """The signer of a link token; raises SignerLinkInvalidError."""
    if not token or len(token) > MAX_TOKEN:
        raise SignerLinkInvalidError("this signature link is not valid")
    signer = await Signer.get_or_none(token_hash=links.token_hash(token))
    if signer is None:
        raise SignerLinkInvalidError("this signature link is not valid")
    return signer


async def signer_view(token: str) -> SignerView:
    """The collection as its signer sees it; raises SignerLinkInvalidError for an unknown link
    (or one of a collection not launched yet)."""
    if not token or len(token) > MAX_TOKEN:
        raise SignerLinkInvalidError("this signature link is not valid")
    # Few queries: the page is what fifty signers at once load.
    signer = await (Signer.filter(token_hash=links.token_hash(token))
                    .select_related("collection__cabinet", "collection__created_by").first())
    if signer is None:
        raise SignerLinkInvalidError("this signature link is not valid")
    collection = signer.collection
    if collection.state in ("draft", "awaiting_approval") or (
            collection.state == "cancelled" and collection.launched_at is None):
        raise SignerLinkInvalidError("this signature link is not valid")
    # Counts, not rows: a collection may have a thousand signers.
    counts = await notices.signer_counts(collection.id, waiting_before=signer.position)
    return SignerView(
        collection=collection, signer=signer, cabinet=collection.cabinet,
        initiator=collection.created_by,
        documents=list(await CollectionDocument.filter(collection_id=collection.id)
                       .select_related("original", "current").order_by("position")),
        signer_count=counts["total"], signed_count=counts["signed"],
        turn=not collection.ordered or not counts["waiting"],
        code_sms=await code_sms(signer),
        registration_waiting=await registration_waiting(signer, collection.cabinet))


async def registration_waiting(signer: Signer, cabinet: Cabinet) -> bool:
    """The signer is a member who signs in their own name, has no approved registration,
    and one waits for review (no query for the many external signers)."""
    if signer.person_id is None or signer.state != "pending":
        return False
    person = await Person.get_or_none(id=signer.person_id)
    if person is None or not await personal_certificates.signs_in_own_name(person, cabinet):
        return False
    states = set(await Registration.filter(person_id=person.id).values_list("state", flat=True))
    return "submitted" in states and "approved" not in states


async def code_sms(signer: Signer) -> Notification | None:
    """The text message of the signer's latest code, when that code went by SMS."""
    if not signer.phone:  # No query for the many signers without a mobile.
        return None
    latest = await SignerCode.filter(signer_id=signer.id).order_by("-id").first()
    if latest is None or latest.channel != "sms" or latest.notification_id is None:
        return None
    return await Notification.get_or_none(id=latest.notification_id)
