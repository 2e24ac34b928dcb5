"""Registration, identity review and the personal certificate's lifecycle, in the core."""

from __future__ import annotations

import asyncio

import pytest

from paraphe import templating
from tests.conftest import BACKEND
from tests.identity_images import jpeg, pdf_scan, png
from tests.registration import last_sms_code, ocsp_status, register, register_and_approve
from tests.validators import assert_pdfsig_trusts, pdfsig_report
from tests.web.trust_server import serving_trust
from tests.workflows.collection_world import pdf, world, world_settings  # noqa: F401
from workflows import (
    clock,
    collections,
    delegations,
    otp,
    people,
    personal_certificates,
    registration,
    registration_review,
    sweeps,
    terms,
)
from workflows.actors import Actor
from workflows.collections import SignerSpec
from workflows.errors import (
    IdentityDocumentFormatError,
    IdentityDocumentGreyscaleError,
    IdentityDocumentMissingError,
    IdentityDocumentSideInvalidError,
    IdentityDocumentTooLargeError,
    IdentityDocumentTooSmallError,
    OtpExpiredError,
    OtpInvalidError,
    OtpLockedError,
    PersonalCertificateMissingError,
    PersonalCertificateRevokedError,
    PhoneAlreadyBoundError,
    RefusalReasonRequiredError,
    RegistrationNotNeededError,
    RegistrationStateError,
)
from workflows.models import (
    EvidenceEvent,
    IdentityBlob,
    IdentityDocument,
    Notification,
    Person,
    Registration,
    TermsAcceptance,
)

OP = Actor.operator()


def _actor(person) -> Actor:
    return Actor(person_id=person.id, channel="web")


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1000000:06d}"


async def _to_documents(svc, person, document_type="id_card", phone="+33611111111"):
    actor = _actor(person)
    await registration.start_or_resume(svc, actor)
    await registration.confirm_identity(svc, actor)
    await registration.set_mobile(svc, actor, phone)
    await registration.verify_mobile(svc, actor, await last_sms_code(svc))
    return await registration.choose_document_type(svc, actor, document_type)


async def test_each_step_is_saved_and_resumes_where_it_stopped(world):
    svc, anne = world.svc, world.expert
    actor = _actor(anne)
    started = await registration.start_or_resume(svc, actor)
    assert started.step == "identity" and started.registration.state == "in_progress"
    await registration.confirm_identity(svc, actor)
    # The person stops and comes back: same registration, next step.
    again = await registration.start_or_resume(svc, actor)
    assert again.registration.id == started.registration.id and again.step == "mobile"
    assert again.registration.identity_snapshot == {
        "name": "Anne Dupré", "email": "expert@dupre.test", "cabinets": ["Cabinet Dupré"]}
    assert await registration.set_mobile(svc, actor, "06 12 34 56 00") == "+33612345600"
    assert (await registration.progress(svc, actor)).step == "mobile_code"
    await registration.verify_mobile(svc, actor, await last_sms_code(svc, "+33612345600"))
    step = await registration.choose_document_type(svc, actor, "id_card")
    assert (step.step, step.needed_sides) == ("front", ("front", "back"))
    await registration.add_document(svc, actor, "front", "recto.jpg", jpeg())
    assert (await registration.progress(svc, actor)).step == "back"
    await registration.add_document(svc, actor, "back", "verso.pdf", pdf_scan())
    assert (await registration.sign_agreement(svc, actor)).step == "policies"
    assert (await registration.accept_policies(svc, actor)).step == "submit"
    submitted = await registration.submit(svc, actor)
    assert submitted.step == "review" and submitted.registration.state == "submitted"
    assert [r.id for r in await registration_review.list_pending()] == [started.registration.id]

    kinds = await EvidenceEvent.filter(person_id=anne.id, kind__startswith="registration."
                                       ).order_by("seq").values_list(
        "kind", flat=True)
    assert kinds == ["registration.started", "registration.identity_confirmed",
                     "registration.mobile_code_sent", "registration.mobile_verified",
                     "registration.document_type_chosen", "registration.document_added",
                     "registration.document_added", "registration.agreement_signed",
                     "registration.policies_accepted", "registration.submitted"]
    signed = await EvidenceEvent.get(kind="registration.agreement_signed")
    assert signed.data["agreement_sha256"] == registration.agreement_text(templating, "fr")[1]


async def test_wrong_phone_code_tells_tries_left_then_locks(world):
    svc, anne = world.svc, world.expert
    actor = _actor(anne)
    await registration.start_or_resume(svc, actor)
    await registration.confirm_identity(svc, actor)
    await registration.set_mobile(svc, actor, "+33612340000")
    code = await last_sms_code(svc)
    with pytest.raises(OtpInvalidError) as wrong:
        await registration.verify_mobile(svc, actor, _wrong(code))
    assert wrong.value.details["attempts_left"] == 4
    for _ in range(3):
        with pytest.raises(OtpInvalidError):
            await registration.verify_mobile(svc, actor, _wrong(code))
    with pytest.raises(OtpLockedError):
        await registration.verify_mobile(svc, actor, _wrong(code))
    with pytest.raises(OtpLockedError):
        await registration.verify_mobile(svc, actor, code)
    # A new code (after the resend interval) works.
    clock.fast_forward(seconds=31)
    await registration.set_mobile(svc, actor, "+33612340000")
    assert (await registration.verify_mobile(svc, actor, await last_sms_code(svc))).step == \
        "document_type"


async def test_a_burst_of_guesses_gets_five_comparisons_and_one_answer_after(world,
                                                                            monkeypatch):
    """40 concurrent wrong mobile codes and the right one: at most five are compared, and
    every guess after the limit, the right one too, is refused alike."""
    svc, anne = world.svc, world.expert
    actor = _actor(anne)
    await registration.start_or_resume(svc, actor)
    await registration.confirm_identity(svc, actor)
    await registration.set_mobile(svc, actor, "+33612340000")
    code = await last_sms_code(svc)
    compared = []
    real = otp.matches

    def counting(typed, digest_of, expected):
        compared.append(typed)
        return real(typed, digest_of, expected)

    monkeypatch.setattr(otp, "matches", counting)
    guesses = [f"{(int(code) + k) % 1000000:06d}" for k in range(1, 41)] + [code]
    outcomes = await asyncio.gather(*(registration.verify_mobile(svc, actor, g)
                                      for g in guesses), return_exceptions=True)
    assert len(compared) <= 5
    # Which guesses reach the comparison is up to the scheduler: when the right one used
    # the code before five tries were taken, the rest are told no code is waiting.
    late = (OtpLockedError, "otp_locked") if len(compared) == 5 else \
        (OtpExpiredError, "otp_expired")
    after = {(type(o), o.code, str(o), repr(o.details))
             for g, o in zip(guesses, outcomes, strict=True) if g not in compared}
    assert len(after) == 1 and after.pop()[:2] == late
    with pytest.raises(late[0]):
        await registration.verify_mobile(svc, actor, code)
    verified = (await Registration.get(person_id=anne.id)).phone_verified_at is not None
    assert verified == (code in compared)


async def test_files_are_checked_by_content_colour_and_size(world):
    svc, anne = world.svc, world.expert
    actor = _actor(anne)
    await _to_documents(svc, anne)
    with pytest.raises(IdentityDocumentFormatError):  # A Word file named .jpg.
        await registration.add_document(svc, actor, "front", "carte.jpg",
                                        b"PK\x03\x04" + b"\x00" * 40000)
    with pytest.raises(IdentityDocumentGreyscaleError):
        await registration.add_document(svc, actor, "front", "carte.png", png(colour=False))
    with pytest.raises(IdentityDocumentGreyscaleError):
        await registration.add_document(svc, actor, "front", "carte.jpg", jpeg(colour=False))
    with pytest.raises(IdentityDocumentTooSmallError):
        await registration.add_document(svc, actor, "front", "carte.png", png(size=2000))
    with pytest.raises(IdentityDocumentTooLargeError):
        await registration.add_document(svc, actor, "front", "carte.jpg",
                                        jpeg(size=10 * 1024 * 1024 + 1))
    assert not await IdentityDocument.exists()
    doc = await registration.add_document(svc, actor, "front", "whatever.bin", png())
    assert doc.content_type == "image/png"
    # A new front replaces the old one, whose file is erased.
    newer = await registration.add_document(svc, actor, "front", "carte.jpeg", jpeg())
    await doc.refresh_from_db()
    assert doc.deleted_at is not None and await _at_rest(svc, doc.storage_ref) is None
    assert newer.content_type == "image/jpeg"


async def test_missing_back_side_and_passport_front_only(world):
    svc, anne, lea = world.svc, world.expert, world.launcher
    actor = _actor(anne)
    await _to_documents(svc, anne)
    await registration.add_document(svc, actor, "front", "recto.png", png())
    with pytest.raises(IdentityDocumentMissingError) as missing:
        await registration.sign_agreement(svc, actor)
    assert missing.value.details["side"] == "back"

    await delegations.grant(OP, lea, world.cabinet, "sign")
    await _to_documents(svc, lea, "passport", phone="+33622222222")
    with pytest.raises(IdentityDocumentSideInvalidError):
        await registration.add_document(svc, _actor(lea), "back", "verso.png", png())
    await registration.add_document(svc, _actor(lea), "front", "passeport.png", png())
    assert (await registration.sign_agreement(svc, _actor(lea))).step == "policies"


async def test_only_experts_and_sign_holders_register(world):
    with pytest.raises(RegistrationNotNeededError):
        await registration.start_or_resume(world.svc, _actor(world.preparer))
    await delegations.grant(OP, world.preparer, world.cabinet, "sign")
    assert (await registration.start_or_resume(world.svc, _actor(world.preparer))).step == \
        "identity"


async def _at_rest(svc, ref: str) -> bytes | None:
    """What is kept of an identity document: its file (SQLite), or its row of identity_blob
    and no file (PostgreSQL, shared by the instances); None once erased."""
    path = svc.settings.home / "identity" / f"{ref}.bin"
    row = await IdentityBlob.get_or_none(ref=ref)
    if BACKEND == "postgres":
        assert not path.exists()
        return None if row is None else bytes(row.blob)
    assert row is None
    return path.read_bytes() if path.exists() else None


async def test_documents_are_encrypted_and_erased_after_retention(world):
    svc, anne = world.svc, world.expert
    progress = await register(svc, anne, document_type="id_card")
    docs = await IdentityDocument.filter(registration_id=progress.registration.id)
    assert len(docs) == 2
    review = await registration_review.show(progress.registration.id)
    clear = await registration_review.read_document(svc, review.documents[0])
    stored = await _at_rest(svc, docs[0].storage_ref)
    assert clear[:8] == b"\x89PNG\r\n\x1a\n" and clear[100:132] not in stored
    await registration_review.refuse(svc, OP, progress.registration.id, "Photo floue")
    assert await sweeps.erase_identity_documents(svc) == 0
    clock.fast_forward(days=svc.settings.identity_retention_days + 1)
    assert await sweeps.erase_identity_documents(svc) == 2
    assert await sweeps.erase_identity_documents(svc) == 0
    assert not list((svc.settings.home / "identity").glob("*.bin"))
    assert [await _at_rest(svc, d.storage_ref) for d in docs] == [None, None]
    assert await IdentityDocument.filter(deleted_at=None).count() == 0


async def test_refused_review_tells_the_person_and_they_start_again(world):
    svc, anne = world.svc, world.expert
    progress = await register(svc, anne)
    with pytest.raises(RefusalReasonRequiredError):
        await registration_review.refuse(svc, OP, progress.registration.id, "  ")
    refused = await registration_review.refuse(svc, OP, progress.registration.id,
                                               "Pièce d'identité illisible")
    assert refused.state == "refused"
    mail = await Notification.get(template="registrant/refused")
    assert mail.recipient == anne.email and mail.context["reason"] == "Pièce d'identité illisible"
    with pytest.raises(RegistrationStateError):
        await registration_review.approve(svc, OP, progress.registration.id)
    fresh = await registration.start_or_resume(svc, _actor(anne))
    assert fresh.registration.id != progress.registration.id and fresh.step == "identity"
    with pytest.raises(PersonalCertificateMissingError):
        await personal_certificates.require_signing_certificate(svc, anne)


async def test_duplicate_mobile_is_refused_until_the_old_certificate_is_revoked(world):
    svc, anne, lea = world.svc, world.expert, world.launcher
    await register_and_approve(svc, anne, phone="+33633333333")
    assert (await Person.get(id=anne.id)).phone == "+33633333333"
    await delegations.grant(OP, lea, world.cabinet, "sign")
    actor = _actor(lea)
    await registration.start_or_resume(svc, actor)
    await registration.confirm_identity(svc, actor)
    with pytest.raises(PhoneAlreadyBoundError) as bound:
        await registration.set_mobile(svc, actor, "+33 6 33 33 33 33")
    assert "revoke" in bound.value.message
    # Anne revokes her certificate (code by SMS to her checked mobile); the number is free.
    assert await personal_certificates.request_revocation(svc, _actor(anne)) == "sms"
    await personal_certificates.confirm_revocation(svc, _actor(anne),
                                                   await last_sms_code(svc, "+33633333333"))
    assert await registration.set_mobile(svc, actor, "+33633333333") == "+33633333333"


async def test_registered_signer_signs_then_revokes_and_is_blocked(world, tmp_path):
    from workflows.models import Certificate, Signer
    from workflows.verification import verify_document

    svc, anne = world.svc, world.expert
    collection = await collections.create_collection(
        svc, _actor(anne), cabinet="dupre", documents=[("pv.pdf", pdf("PV AG"))],
        signers=[SignerSpec("Anne Dupré", "expert@dupre.test")])
    with pytest.raises(PersonalCertificateMissingError):
        await collections.request_signature_code(svc, _actor(anne), collection.id)

    cert = await register_and_approve(svc, anne, phone="+33644444444")
    assert cert.kind == "personal" and cert.person_id == anne.id
    approved = await Notification.get(template="registrant/approved")
    assert approved.context["serial"] == cert.serial
    details = await personal_certificates.certificate_details(anne)
    assert details.status == "valid" and "Anne Dupré" in details.subject

    assert await collections.request_signature_code(svc, _actor(anne), collection.id) == "sms"
    signer = await collections.sign_internal(svc, _actor(anne), collection.id,
                                             await last_sms_code(svc, "+33644444444"))
    assert signer.certificate_serial == cert.serial
    doc = await collection.documents.all().prefetch_related("current").first()
    data = await svc.documents.read(doc.current.sha256)
    async with serving_trust(svc.trust):
        report = await verify_document(svc, data, "pv.pdf")
        assert report["ok"] and report["signatures"][0]["trusted"]
        assert report["signatures"][0]["revocation"] != "revoked"
        out = tmp_path / "signed.pdf"
        out.write_bytes(data)
        assert_pdfsig_trusts(await pdfsig_report(out, svc.trust.root_pem()), 1)
        assert await ocsp_status(svc.trust, cert) == "good"

        channel = await personal_certificates.request_revocation(svc, _actor(anne))
        assert channel == "sms"
        with pytest.raises(OtpInvalidError):
            await personal_certificates.confirm_revocation(svc, _actor(anne), "000000")
        await personal_certificates.confirm_revocation(svc, _actor(anne),
                                                       await last_sms_code(svc, "+33644444444"))
        assert await ocsp_status(svc.trust, cert) == "revoked"
    assert (await personal_certificates.certificate_details(anne)).status == "revoked"
    assert (await Certificate.get(id=cert.id)).revoked_at is not None

    second = await collections.create_collection(
        svc, _actor(anne), cabinet="dupre", documents=[("pv2.pdf", pdf("PV 2"))],
        signers=[SignerSpec("Anne Dupré", "expert@dupre.test")])
    with pytest.raises(PersonalCertificateRevokedError):
        await collections.request_signature_code(svc, _actor(anne), second.id)
    assert (await Signer.get(collection_id=second.id)).state == "pending"
    # A new registration, approved, gives a new certificate that signs again.
    clock.fast_forward(seconds=31)
    new_cert = await register_and_approve(svc, anne, phone="+33644444444")
    assert new_cert.serial != cert.serial
    assert (await Registration.filter(person_id=anne.id).count()) == 2


async def test_an_expert_accepting_the_cgu_while_registering_opens_each_cabinet(world):
    """The CGU shown at the policies step is the version in force; accepting it there opens
    every cabinet of which the registrant is an expert, recorded as accepted at registration,
    and leaves a cabinet already opened by another expert as it was."""
    svc, op = world.svc, Actor.operator()
    fresh = await people.create_cabinet(op, slug="neuf", name="Cabinet Neuf", siren="732829320")
    third = await people.create_cabinet(op, slug="trois", name="Cabinet Trois")
    nora, _ = await people.add_person(op, email="nora@neuf.test", name="Nora Neuf",
                                      cabinet="neuf", role="expert")
    await people.add_person(op, email="nora@neuf.test", name="Nora Neuf", cabinet="trois",
                            role="collaborator")
    await people.add_person(op, email="nora@neuf.test", name="Nora Neuf", cabinet="dupre",
                            role="expert")
    assert not await terms.is_accepted(fresh, svc.settings)
    texts = registration.policy_texts(svc.templates, svc.settings, "fr")
    assert texts["terms"][0] == terms.text(svc.settings, svc.settings.terms_version).strip()
    await register(svc, nora, submit=False)

    assert await terms.is_accepted(fresh, svc.settings)
    assert not await terms.is_accepted(third, svc.settings)  # a collaborator there
    accepted = await EvidenceEvent.filter(kind="terms.accepted", person_id=nora.id)
    assert [(e.cabinet_id, e.data["via"]) for e in accepted] == [(fresh.id, "registration")]
    dupre = await TermsAcceptance.get(cabinet_id=world.cabinet.id)
    assert dupre.person_id == world.expert.id  # Anne's acceptance stands
    policies = await EvidenceEvent.get(kind="registration.policies_accepted",
                                       person_id=nora.id)
    assert policies.data["terms_sha256"] == texts["terms"][1]
    assert policies.data["terms_version"] == svc.settings.terms_version
