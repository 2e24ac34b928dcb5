"""Terms of use per cabinet: who accepts, what is refused until then, and a new version."""

from __future__ import annotations

import hashlib

import pytest

from tests.terms import NEW, publish_new_version
from tests.workflows.collection_world import (  # noqa: F401 - fixtures
    OP,
    code_of,
    link_of,
    pdf,
    token_of,
    world,
    world_settings,
)
from workflows import billing, collections, delegations, evidence, people, sealing, terms
from workflows.actors import Actor
from workflows.collections import SignerSpec
from workflows.errors import (
    NotAMemberError,
    TermsExpertRequiredError,
    TermsNotAcceptedError,
    TermsVersionInvalidError,
)
from workflows.models import (
    Collection,
    EvidenceEvent,
    LedgerEntry,
    Notification,
    Signer,
    TermsAcceptance,
)

WEB = dict(ip="127.0.0.1", user_agent="pytest")


class Closed:
    """A cabinet `neuf` whose expert has accepted nothing yet, with a sealing collaborator."""

    def __init__(self, cabinet, expert, collab) -> None:
        self.cabinet, self.expert, self.collab = cabinet, expert, collab


@pytest.fixture
async def closed(world):
    cabinet = await people.create_cabinet(OP, slug="neuf", name="Cabinet Neuf",
                                          siren="732829320")
    expert, _ = await people.add_person(OP, email="expert@neuf.test", name="Nina Neuf",
                                        cabinet="neuf", role="expert")
    collab, _ = await people.add_person(OP, email="collab@neuf.test", name="Cyril Neuf",
                                        cabinet="neuf", role="collaborator")
    for action in ("seal", "launch"):
        await delegations.grant(OP, collab, cabinet, action)
    await billing.add_credit(OP, cabinet, 10)
    return Closed(cabinet, expert, collab)


def me(person) -> Actor:
    return Actor(person_id=person.id, channel="telegram")


async def _seal(world, person, cabinet):
    return await sealing.seal_document(world.svc, me(person), cabinet=cabinet,
                                       filename="lettre.pdf", data=pdf())


async def _collect(world, person, cabinet, email="client@example.test"):
    return await collections.create_collection(
        world.svc, me(person), cabinet=cabinet, documents=[("lettre.pdf", pdf())],
        signers=[SignerSpec("Client", email)])


async def _sign(world, email):
    token = token_of(await link_of(email))
    await collections.send_code(world.svc, token, "mail")
    return await collections.sign_with_code(world.svc, token, await code_of(email),
                                            consent=True, **WEB)


# --- accepting -------------------------------------------------------------------------

async def test_expert_accepts_once_with_evidence_of_who_when_which_text(world, closed):
    version = terms.current_version(world.svc.settings)
    done = await terms.accept_terms(world.svc, me(closed.expert), "neuf", version)
    assert (done.cabinet, done.version, done.accepted_by, done.already) == (
        "neuf", "2026-01", "expert@neuf.test", False)
    event = await EvidenceEvent.get(kind="terms.accepted", cabinet_id=closed.cabinet.id)
    assert event.person_id == closed.expert.id and event.channel == "telegram"
    assert event.data["version"] == "2026-01" and event.data["email"] == "expert@neuf.test"
    text_fr = (terms.TERMS_DIR / "cgu.2026-01.fr.md").read_bytes()
    assert event.data["terms_sha256"]["fr"] == hashlib.sha256(text_fr).hexdigest()
    assert "Conditions générales" in text_fr.decode()
    # Accepting again changes nothing: same acceptance, no second event.
    again = await terms.accept_terms(world.svc, me(closed.expert), "neuf", version)
    assert again.already and again.accepted_at == done.accepted_at
    assert await EvidenceEvent.filter(kind="terms.accepted",
                                      cabinet_id=closed.cabinet.id).count() == 1
    assert (await evidence.verify_chain()).ok


async def test_only_the_cabinets_expert_accepts_the_current_version(world, closed):
    version = terms.current_version(world.svc.settings)
    with pytest.raises(TermsExpertRequiredError):
        await terms.accept_terms(world.svc, me(closed.collab), "neuf", version)
    with pytest.raises(NotAMemberError):  # The expert of another cabinet.
        await terms.accept_terms(world.svc, me(world.expert), "neuf", version)
    with pytest.raises(TermsExpertRequiredError):  # The operator must name the expert.
        await terms.accept_terms(world.svc, OP, "neuf", version)
    for wrong in ("2025-01", "", "../cgu"):
        with pytest.raises(TermsVersionInvalidError) as refused:
            await terms.accept_terms(world.svc, me(closed.expert), "neuf", wrong)
        assert refused.value.details["current"] == "2026-01"
    assert not await TermsAcceptance.exists(cabinet_id=closed.cabinet.id)
    # The operator records the expert's acceptance at the command line.
    done = await terms.accept_terms(world.svc, Actor.operator(), "neuf", version,
                                    person=closed.expert)
    assert done.accepted_by == "expert@neuf.test"


# --- refusals until accepted ------------------------------------------------------------

async def test_seal_refused_until_the_expert_accepts(world, closed):
    before = await LedgerEntry.filter(cabinet_id=closed.cabinet.id).count()
    with pytest.raises(TermsNotAcceptedError) as refused:
        await _seal(world, closed.collab, "neuf")
    assert refused.value.details == {"cabinet": "neuf", "version": "2026-01",
                                     "role": "collaborator"}
    assert "paraphe terms accept neuf" in refused.value.message
    with pytest.raises(TermsNotAcceptedError) as refused:
        await _seal(world, closed.expert, "neuf")
    assert refused.value.details["role"] == "expert"
    with pytest.raises(TermsNotAcceptedError):  # The operator's seal too.
        await sealing.seal_document(world.svc, Actor.operator(), cabinet="neuf",
                                    filename="a.pdf", data=pdf())
    # Nothing billed, nothing recorded as applied.
    assert await LedgerEntry.filter(cabinet_id=closed.cabinet.id).count() == before
    assert not await EvidenceEvent.exists(kind="seal.applied", cabinet_id=closed.cabinet.id)
    await terms.accept_terms(world.svc, me(closed.expert), "neuf", "2026-01")
    sealed = await _seal(world, closed.collab, "neuf")
    assert sealed.cabinet == "neuf" and sealed.credit_left == 9


async def test_collection_refused_until_the_expert_accepts(world, closed):
    with pytest.raises(TermsNotAcceptedError):
        await _collect(world, closed.collab, "neuf")
    assert not await Collection.exists(cabinet_id=closed.cabinet.id)
    assert not await Notification.exists(recipient="client@example.test")
    await terms.accept_terms(world.svc, me(closed.expert), "neuf", "2026-01")
    collection = await _collect(world, closed.collab, "neuf")
    assert collection.state == "in_progress"


# --- a new version -----------------------------------------------------------------------

async def test_new_version_asks_again_and_launched_collections_stay_signable(
        world, tmp_path):
    running = await _collect(world, world.expert, "dupre", "early@example.test")
    waiting = await collections.create_collection(
        world.svc, me(world.preparer), cabinet="dupre", documents=[("a.pdf", pdf())],
        signers=[SignerSpec("Tard", "late@example.test")])
    assert waiting.state == "awaiting_approval"
    publish_new_version(world.svc.settings, tmp_path)

    with pytest.raises(TermsNotAcceptedError) as refused:
        await _seal(world, world.expert, "dupre")
    assert refused.value.details["version"] == NEW
    with pytest.raises(TermsNotAcceptedError):
        await _collect(world, world.launcher, "dupre", "new@example.test")
    with pytest.raises(TermsNotAcceptedError):
        await collections.approve_collection(world.svc, me(world.launcher), waiting.id)
    assert (await Collection.get(id=waiting.id)).state == "awaiting_approval"
    # Launched under the terms in force then: its client still signs.
    signer = await _sign(world, "early@example.test")
    assert signer.state == "signed"
    assert (await Collection.get(id=running.id)).state == "completed"
    # The old version cannot be accepted again; the new one opens the cabinet.
    with pytest.raises(TermsVersionInvalidError):
        await terms.accept_terms(world.svc, me(world.expert), "dupre", "2026-01")
    pending = await terms.pending_for(world.expert, world.svc.settings)
    assert [c.slug for c in pending] == ["dupre"]
    done = await terms.accept_terms(world.svc, me(world.expert), "dupre", NEW)
    event = await EvidenceEvent.filter(kind="terms.accepted").order_by("-seq").first()
    assert event.data["version"] == NEW and event.data["terms_sha256"]["fr"] == hashlib.sha256(
        (tmp_path / "terms" / f"cgu.{NEW}.fr.md").read_bytes()).hexdigest()
    assert not done.already and await terms.pending_for(world.expert, world.svc.settings) == []
    assert (await collections.approve_collection(world.svc, me(world.launcher),
                                                 waiting.id)).state == "in_progress"
    assert (await _seal(world, world.expert, "dupre")).cabinet == "dupre"


async def test_collection_from_before_any_acceptance_waits_for_it(world):
    # A database from before terms were enforced: a running collection, no acceptance.
    collection = await _collect(world, world.expert, "dupre", "old@example.test")
    await TermsAcceptance.filter(cabinet_id=world.cabinet.id).delete()
    terms.forget_cache()  # As a restart on the upgraded database would.
    token = token_of(await link_of("old@example.test"))
    with pytest.raises(TermsNotAcceptedError) as refused:
        await collections.send_code(world.svc, token, "mail")
    assert refused.value.details["role"] is None
    assert not await Notification.exists(recipient="old@example.test", template="signer/code")
    await terms.accept_terms(world.svc, me(world.expert), "dupre", "2026-01")
    assert (await _sign(world, "old@example.test")).state == "signed"
    assert (await Collection.get(id=collection.id)).state == "completed"


async def test_refused_signature_keeps_the_code_and_bills_nothing(world):
    await _collect(world, world.expert, "dupre", "late@example.test")
    token = token_of(await link_of("late@example.test"))
    await collections.send_code(world.svc, token, "mail")
    code = await code_of("late@example.test")
    # Terms withdrawn between the code and the signature (an upgraded database).
    await TermsAcceptance.filter(cabinet_id=world.cabinet.id).delete()
    terms.forget_cache()
    with pytest.raises(TermsNotAcceptedError):
        await collections.sign_with_code(world.svc, token, code, consent=True, **WEB)
    signer = await Signer.get(email="late@example.test")
    assert signer.state == "pending"
    assert not await LedgerEntry.filter(operation="signature").exists()
    await terms.accept_terms(world.svc, me(world.expert), "dupre", "2026-01")
    signed = await collections.sign_with_code(world.svc, token, code, consent=True, **WEB)
    assert signed.state == "signed"
