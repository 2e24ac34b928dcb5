"""/register and /certificate in the bot against the fake Bot API: the whole path, each
refusal, the review's answer, signing with the certificate, its revocation."""

from __future__ import annotations

from tests.bot.conftest import link
from tests.fakes.telegram import User
from tests.identity_images import jpeg, png
from tests.pdfs import make_pdf
from tests.registration import last_sms_code, ocsp_status, register_and_approve
from tests.validators import assert_pdfsig_trusts, pdfsig_report
from bot.callbacks import RegistrationAction
from workflows import registration_review
from workflows.actors import Actor
from workflows.models import Certificate, Registration, Signer


async def _say(tg, user, text: str, expect: str):
    n = len(tg.chat(user.id))
    await tg.send_text(user, text)
    return await tg.expect(user.id, expect, after=n)


async def _press(tg, user, sent, button: str, expect: str):
    n = len(tg.chat(user.id))
    await tg.press(user, sent, button)
    return await tg.expect(user.id, expect, after=n)


async def test_whole_path_with_each_refusal_then_sign_and_revoke(tg, firm, svc, web, tmp_path):
    from bot.app import start_bot
    from tests.dispatching import service_dispatcher

    anne = User(901, "Anne")
    first = await start_bot(svc, poll_timeout=1)
    try:
        code = await _first_steps(tg, svc, firm, anne)
    finally:
        await first.stop()
    # The bot restarts between two steps: the conversation lives in the database.
    second = await start_bot(svc, poll_timeout=1)
    # With the notification dispatcher, as `paraphe serve` runs them: the review's notices
    # reach Anne in the chat.
    dispatcher = service_dispatcher(svc, second, poll_interval=0.2)
    dispatcher.start()
    try:
        await _next_steps(tg, svc, firm, anne, code, tmp_path)
    finally:
        await dispatcher.stop()
        await second.stop()


async def _first_steps(tg, svc, firm, anne) -> str:
    await link(tg, firm.expert, anne)
    ask = await _say(tg, anne, "/register", "étape 1")
    assert "Anne Dupont" in ask.text and "expert@dupont.test" in ask.text
    assert "Cabinet Dupont" in ask.text
    ask = await _press(tg, anne, ask, "exactes", "numéro de téléphone mobile")

    await _say(tg, anne, "12", "Ce n'est pas un numéro de mobile")
    await _say(tg, anne, "+33 6 77 77 77 77", "envoyé par SMS au +33677777777")
    code = await last_sms_code(svc, "+33677777777")
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    await _say(tg, anne, wrong, "4 essai(s) restant(s)")
    return code


async def _next_steps(tg, svc, firm, anne, code, tmp_path) -> None:
    await tg.drained()
    ask = await _say(tg, anne, "/register", "Tapez le code reçu par SMS")
    ask = await _say(tg, anne, code, "quelle pièce d'identité")
    assert "Numéro de mobile confirmé" in ask.text
    ask = await _press(tg, anne, ask, "Carte nationale", "recto de votre carte d'identité")

    n = len(tg.chat(anne.id))
    await tg.send_document(anne, b"PK\x03\x04" + b"\x00" * 40000, "carte.jpg", "image/jpeg")
    await tg.expect(anne.id, "Ce fichier n'est pas accepté", after=n)
    await tg.send_document(anne, jpeg(size=10 * 1024 * 1024 + 10), "carte.jpg", "image/jpeg")
    await tg.expect(anne.id, "dépasse la taille maximale de 10 Mo", after=n)
    await tg.send_photo(anne, jpeg(colour=False))
    await tg.expect(anne.id, "doit être en couleur", after=n)
    await tg.send_photo(anne, jpeg())
    await tg.expect(anne.id, "Recto reçu", after=n)
    await tg.expect(anne.id, "verso de votre carte d'identité", after=n)
    # A tap on a button of a later step, with the back side still missing, is refused.
    await tg.tap(anne, RegistrationAction(action="agree").pack())
    await tg.expect(anne.id, "Il manque le verso", after=n)

    await tg.send_document(anne, png(), "verso.png", "image/png")
    ask = await tg.expect(anne.id, "accord de souscription", after=n)
    assert "Verso reçu" in ask.text
    ask = await _press(tg, anne, ask, "Je signe", "conditions générales")
    ask = await _press(tg, anne, ask, "J'ai lu et j'accepte", "Tout est prêt")
    await _press(tg, anne, ask, "Valider mon enregistrement", "attend la vérification")
    reg = await Registration.get(person_id=firm.expert.id)
    assert reg.state == "submitted" and reg.document_type == "id_card"
    photo = await reg.documents.filter(side="front", deleted_at=None).first()
    assert photo.content_type == "image/jpeg" and photo.size > 20 * 1024

    await registration_review.approve(svc, Actor.operator(), reg.id)
    await tg.expect(anne.id, "Votre enregistrement est validé")
    details = await _say(tg, anne, "/certificate", "Votre certificat personnel")
    cert = await Certificate.get(kind="personal", person_id=firm.expert.id)
    assert cert.serial in details.text and "valable" in details.text

    # The certificate signs; pdfsig and pyHanko accept the signature.
    from workflows.collections import SignerSpec, create_collection
    from workflows.verification import verify_document

    collection = await create_collection(
        svc, Actor(firm.expert.id, "telegram"), cabinet="dupont",
        documents=[("accord.pdf", make_pdf(1))],
        signers=[SignerSpec("Anne Dupont", "expert@dupont.test")])
    await _say(tg, anne, f"/sign {collection.id}", "envoyé par SMS")
    await _say(tg, anne, await last_sms_code(svc, "+33677777777"), "C'est signé")
    signer = await Signer.get(collection_id=collection.id)
    assert signer.certificate_serial == cert.serial
    doc = await collection.documents.all().prefetch_related("current").first()
    data = await svc.documents.read(doc.current.sha256)
    assert (await verify_document(svc, data, "accord.pdf"))["ok"]
    (tmp_path / "signed.pdf").write_bytes(data)
    assert_pdfsig_trusts(await pdfsig_report(tmp_path / "signed.pdf", svc.trust.root_pem()), 1)
    assert await ocsp_status(svc.trust, cert) == "good"

    # Revocation, confirmed by a code sent by SMS and typed in the chat.
    await _press(tg, anne, details, "Révoquer", "tapez ici le code envoyé par SMS")
    await _say(tg, anne, "000000" if (await last_sms_code(svc)) != "000000" else "111111",
               "Code incorrect")
    await _say(tg, anne, await last_sms_code(svc, "+33677777777"), "est révoqué")
    assert await ocsp_status(svc.trust, cert) == "revoked"
    second = await create_collection(
        svc, Actor(firm.expert.id, "telegram"), cabinet="dupont",
        documents=[("avenant.pdf", make_pdf(1))],
        signers=[SignerSpec("Anne Dupont", "expert@dupont.test")])
    await _say(tg, anne, f"/sign {second.id}", "certificat personnel est révoqué")
    assert (await Signer.get(collection_id=second.id)).state == "pending"
    await tg.expect(anne.id, "/register")
    again = await _say(tg, anne, "/register", "étape 1")
    assert again.buttons


async def test_duplicate_mobile_then_refused_review_then_start_again(tg, bot, firm, svc):
    bob = User(902, "Bob", language_code="en")
    await firm.grant(firm.collaborator, "sign")
    await link(tg, firm.collaborator, bob)
    await register_and_approve(svc, firm.expert, phone="+33688888888")
    ask = await _say(tg, bob, "/register", "step 1")
    await _press(tg, bob, ask, "correct", "mobile phone number")
    refused = await _say(tg, bob, "06 88 88 88 88", "already bound to another person")
    assert "revoke" in refused.text
    await _say(tg, bob, "+33699999999", "sent by SMS to +33699999999")
    ask = await _say(tg, bob, await last_sms_code(svc, "+33699999999"), "which identity document")
    ask = await _press(tg, bob, ask, "Passport", "front of your passport")
    n = len(tg.chat(bob.id))
    await tg.send_document(bob, png(), "passport.png", "image/png")
    ask = await tg.expect(bob.id, "subscription agreement", after=n)
    ask = await _press(tg, bob, ask, "I sign", "terms of use")
    ask = await _press(tg, bob, ask, "I have read", "Everything is ready")
    await _press(tg, bob, ask, "Confirm my registration", "waits for the review")

    reg = await Registration.get(person_id=firm.collaborator.id)
    await registration_review.refuse(svc, Actor.operator(), reg.id, "The photo is blurred")
    told = await tg.expect(bob.id, "was not approved")
    assert "The photo is blurred" in told.text
    await _say(tg, bob, "/certificate", "no valid personal certificate")
    await _say(tg, bob, "/register", "step 1")
    assert await Registration.filter(person_id=firm.collaborator.id).count() == 2


async def test_register_web_mails_the_personal_link(tg, bot, firm, svc):
    from workflows.models import Notification

    anne = User(904, "Anne")
    await link(tg, firm.expert, anne)
    ask = await _say(tg, anne, "/register", "étape 1")
    assert "/register web" in ask.text
    await _say(tg, anne, "/register web", "envoyé par e-mail (expert@dupont.test)")
    mail = await Notification.get(template="registrant/registration_link")
    assert mail.recipient == "expert@dupont.test"
    assert mail.context["link"].startswith(f"{svc.settings.public_url}/r/")


async def test_only_sign_holders_and_experts_register(tg, bot, firm):
    bob = User(903, "Bob", language_code="en")
    await firm.grant(firm.collaborator, "prepare")
    await link(tg, firm.collaborator, bob)
    await _say(tg, bob, "/register", "You do not need to register")
    await _say(tg, bob, "/register web", "You do not need to register")
    # A PDF sent by someone with no registration goes on to the usual buttons.
    n = len(tg.chat(bob.id))
    await tg.send_document(bob, make_pdf(1), "lettre.pdf")
    await tg.expect(bob.id, "lettre.pdf", after=n)
