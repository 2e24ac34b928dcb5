"""/terms in Telegram: an expert reads the terms in force and accepts them with a button;
until then seals are refused with a message that tells each person what to do."""

from __future__ import annotations

from tests.bot.conftest import link
from tests.fakes.telegram import User
from tests.pdfs import make_pdf
from tests.terms import NEW, publish_new_version
from workflows import billing
from workflows.models import EvidenceEvent, LedgerEntry, TermsAcceptance


async def _tap_seal(tg, user, pdf_name: str):
    n = len(tg.chat(user.id))
    await tg.send_document(user, make_pdf(1), pdf_name)
    offer = await tg.expect(user.id, pdf_name, after=n)
    await tg.press(user, offer, "Seal" if user.language_code == "en" else "Sceller")
    return n


async def test_new_terms_refuse_seals_until_the_expert_accepts_by_button(
        tg, bot, firm, svc, tmp_path):
    anne, bob = User(701, "Anne"), User(702, "Bob", language_code="en")
    await link(tg, firm.expert, anne)
    await firm.grant(firm.collaborator, "seal")
    await link(tg, firm.collaborator, bob)
    publish_new_version(svc.settings, tmp_path)

    # The collaborator is refused and told to ask the expert.
    n = await _tap_seal(tg, bob, "invoice.pdf")
    refusal = await tg.expect(bob.id, "not open yet", after=n)
    assert f"The firm dupont is not open yet: its chartered accountant must first accept " \
           f"Paraphe's terms of use (version {NEW})." in refusal.text
    assert "Ask the firm's chartered accountant to accept them" in refusal.text
    # The expert is refused too, and told to send /terms.
    n = await _tap_seal(tg, anne, "lettre.pdf")
    refusal = await tg.expect(anne.id, "pas encore ouvert", after=n)
    assert "Vous êtes son expert-comptable : envoyez /terms" in refusal.text
    assert not await LedgerEntry.exists(kind="debit")
    assert await billing.balance(firm.cabinet) == 10

    # A collaborator's /terms explains that the expert accepts.
    n = len(tg.chat(bob.id))
    await tg.send_text(bob, "/terms")
    assert "Only a firm's chartered accountant" in (await tg.next_in_chat(bob.id, n)).text

    # The expert reads the new text and gets one Accept button per cabinet.
    n = len(tg.chat(anne.id))
    await tg.send_text(anne, "/terms")
    text = await tg.next_in_chat(anne.id, n)
    assert f"version {NEW}" in text.text and "Nouvelle version" in text.text
    ask = await tg.next_in_chat(anne.id, n + 1)
    assert "Cabinet Dupont (dupont)" in ask.text and ask.button_texts() == ["Accepter"]
    await tg.press(anne, ask, "Accepter")
    edited = await tg.wait_for(lambda: [s for s in tg.chat(anne.id, "edit_text")
                                        if s.message_id == ask.message_id])
    assert f"Conditions version {NEW} acceptées pour dupont" in edited[-1].text
    assert edited[-1].buttons == []
    row = await TermsAcceptance.get(cabinet_id=firm.cabinet.id, version=NEW)
    assert row.person_id == firm.expert.id
    event = await EvidenceEvent.filter(kind="terms.accepted").order_by("-seq").first()
    assert event.channel == "telegram" and event.data["origin"]["telegram_user_id"] == 701
    assert event.data["version"] == NEW and len(event.data["terms_sha256"]["fr"]) == 64

    # A second tap on the same button changes nothing; /terms has nothing left to ask.
    await tg.press(anne, ask, "Accepter")
    answers = await tg.wait_for(lambda: [c for c in tg.calls_to("answerCallbackQuery")
                                         if "déjà acceptées" in c.params.get("text", "")])
    assert answers
    assert await TermsAcceptance.filter(cabinet_id=firm.cabinet.id).count() == 2
    n = len(tg.chat(anne.id))
    await tg.send_text(anne, "/terms")
    assert "acceptées pour tous vos cabinets" in (await tg.expect(anne.id, "tous vos",
                                                                  after=n)).text

    # The collaborator's seal now goes through.
    await _tap_seal(tg, bob, "invoice2.pdf")
    sealed = await tg.next_in_chat(bob.id, 0, "document")
    assert sealed.filename == "invoice2-scelle.pdf"
    assert await billing.balance(firm.cabinet) == 9


async def test_a_button_for_terms_no_longer_in_force_is_refused(tg, bot, firm, svc, tmp_path):
    anne = User(703, "Anne")
    await link(tg, firm.expert, anne)
    publish_new_version(svc.settings, tmp_path)
    n = len(tg.chat(anne.id))
    await tg.send_text(anne, "/terms")
    ask = await tg.next_in_chat(anne.id, n + 1)
    # Yet another version comes into force before the tap.
    publish_new_version(svc.settings, tmp_path, "2026-09")
    n = len(tg.chat(anne.id))
    await tg.press(anne, ask, "Accepter")
    refusal = await tg.expect(anne.id, "plus en vigueur", after=n)
    assert "version actuelle : 2026-09" in refusal.text and "/terms" in refusal.text
    assert not await TermsAcceptance.exists(cabinet_id=firm.cabinet.id, version=NEW)
