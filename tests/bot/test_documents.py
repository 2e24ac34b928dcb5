"""A PDF sent to the bot: Seal / Start a collection / Verify buttons, checked at the tap."""

from __future__ import annotations

import hashlib

from bot import sweeps
from bot.models import TelegramUpdate
from tests.bot.conftest import link
from tests.fakes.telegram import User
from tests.pdfs import make_pdf
from tests.validators import assert_pdfsig_trusts, pdfsig_report, qpdf_check
from workflows import billing, clock
from workflows.models import EvidenceEvent, LedgerEntry


async def test_seal_a_pdf_by_button(tg, bot, firm, svc, web, tmp_path):
    anne = User(601, "Anne")
    await link(tg, firm.expert, anne)
    pdf = make_pdf(2, text="Lettre de mission")
    await tg.send_document(anne, pdf, "mission.pdf")
    offer = await tg.next_in_chat(anne.id, 1)
    assert "mission.pdf" in offer.text
    assert offer.button_texts() == ["Sceller", "Lancer une collecte", "Vérifier"]

    await tg.press(anne, offer, "Sceller")
    sealed = await tg.next_in_chat(anne.id, 0, "document")
    assert sealed.filename == "mission-scelle.pdf"
    digest = hashlib.sha256(sealed.data).hexdigest()
    assert f"SHA-256 : {digest}" in sealed.text
    assert "Crédit restant : 9" in sealed.text
    assert await billing.balance(firm.cabinet) == 9
    # The "sending document" chat action showed while the seal was being made.
    assert any(c.params.get("action") == "upload_document" for c in tg.calls_to("sendChatAction"))
    # The buttons were taken off the offer once used.
    await tg.wait_for(lambda: any(s.message_id == offer.message_id
                                  for s in tg.chat(anne.id, "edit_markup")))
    event = await EvidenceEvent.get(kind="seal.applied")
    assert event.channel == "telegram" and event.data["origin"]["telegram_user_id"] == 601

    out = tmp_path / "sealed.pdf"
    out.write_bytes(sealed.data)
    assert_pdfsig_trusts(await pdfsig_report(out, svc.trust.root_pem()), 1)
    await qpdf_check(out)

    # A second tap on the same (stale) message is answered clearly and bills nothing.
    await tg.press(anne, offer, "Sceller")
    stale = await tg.next_in_chat(anne.id, 3)
    assert "ne vaut plus" in stale.text
    assert await billing.balance(firm.cabinet) == 9
    assert len(tg.chat(anne.id, "document")) == 1

    # The sealed file sent back and verified: free, and every signature is valid.
    n = len(tg.chat(anne.id))
    await tg.send_document(anne, sealed.data, "mission-scelle.pdf")
    offer = await tg.expect(anne.id, "mission-scelle.pdf", after=n)
    await tg.press(anne, offer, "Vérifier")
    report = await tg.expect(anne.id, "Vérification", after=n)
    assert "toutes les signatures sont valides" in report.text
    assert "Cabinet Dupont : intacte, de confiance" in report.text
    assert await billing.balance(firm.cabinet) == 9


async def test_seal_refused_without_delegation_checked_at_tap(tg, bot, firm, svc):
    bob = User(602, "Bob", language_code="en")
    await firm.grant(firm.collaborator, "seal")
    await link(tg, firm.collaborator, bob)
    await tg.send_document(bob, make_pdf(1), "invoice.pdf")
    offer = await tg.next_in_chat(bob.id, 1)
    assert offer.button_texts() == ["Seal", "Start a collection", "Verify"]
    # The delegation is withdrawn after the buttons were shown: the tap is refused.
    await firm.revoke(firm.collaborator, "seal")
    await tg.press(bob, offer, "Seal")
    refusal = await tg.next_in_chat(bob.id, 2)
    assert 'do not hold the "seal" delegation' in refusal.text
    assert await billing.balance(firm.cabinet) == 10
    assert not await LedgerEntry.exists(kind="debit")
    assert not tg.chat(bob.id, "document")
    # Start a collection needs prepare or launch: refused too.
    await tg.press(bob, offer, "Start a collection")
    refusal = await tg.next_in_chat(bob.id, 3)
    assert 'do not hold the "prepare" delegation' in refusal.text


async def test_not_a_pdf_and_no_credit(tg, bot, firm, svc):
    anne = User(603, "Anne")
    await link(tg, firm.expert, anne)
    await tg.send_document(anne, b"hello", "notes.txt", mime_type="text/plain")
    assert "n'est pas un PDF" in (await tg.next_in_chat(anne.id, 1)).text
    await billing.set_tariff(firm.cabinet, "seal", 50)
    await tg.send_document(anne, make_pdf(1), "a.pdf")
    offer = await tg.next_in_chat(anne.id, 2)
    await tg.press(anne, offer, "Sceller")
    refusal = await tg.next_in_chat(anne.id, 3)
    assert "Crédit insuffisant : 50 nécessaire(s), 10 disponible(s)" in refusal.text
    assert await billing.balance(firm.cabinet) == 10


async def test_duplicate_update_acts_once(tg, bot, firm, svc):
    anne = User(604, "Anne")
    await link(tg, firm.expert, anne)
    await tg.send_document(anne, make_pdf(1), "once.pdf")
    offer = await tg.next_in_chat(anne.id, 1)
    tap = await tg.press(anne, offer, "Sceller")
    # Telegram delivers the very same update (same update_id) a second time.
    await tg.push(dict(tap))
    await tg.next_in_chat(anne.id, 0, "document")
    await tg.drained()
    await tg.wait_for(lambda: len(tg.calls_to("getUpdates")) > 0)
    assert len(tg.chat(anne.id, "document")) == 1
    assert await billing.balance(firm.cabinet) == 9
    assert await EvidenceEvent.filter(kind="seal.applied").count() == 1


async def test_duplicate_command_answers_once(tg, bot, firm):
    anne = User(606, "Anne")
    await link(tg, firm.expert, anne)
    update = await tg.send_text(anne, "/credit")
    await tg.push(dict(update))  # The same update_id again.
    await tg.next_in_chat(anne.id, 1)
    await tg.drained()
    # A later command is answered, so the duplicate had its chance and was dropped.
    await tg.send_text(anne, "/delegations")
    assert "dupont (expert-comptable)" in (await tg.next_in_chat(anne.id, 2)).text
    credit = [s for s in tg.chat(anne.id) if "crédit(s) disponible(s)" in s.text]
    assert len(credit) == 1 and "dupont : 10 crédit(s) disponible(s)" in credit[0].text


async def test_handled_update_ids_are_kept_a_week_then_forgotten(tg, bot, firm):
    anne = User(607, "Anne")
    await link(tg, firm.expert, anne)
    update = await tg.send_text(anne, "/credit")
    await tg.next_in_chat(anne.id, 1)
    handled = await TelegramUpdate.all().count()
    assert handled >= 2  # The link's /start and the /credit.
    clock.fast_forward(days=6)
    assert await sweeps.forget_handled_updates(None) == 0
    await tg.push(dict(update))  # Redelivered within the week: still skipped.
    await tg.drained()
    await tg.send_text(anne, "/delegations")
    await tg.next_in_chat(anne.id, 2)
    assert len([s for s in tg.chat(anne.id) if "crédit(s) disponible(s)" in s.text]) == 1
    clock.fast_forward(days=1, minutes=1)
    # The table does not grow for ever: past the week, the ids seen then are gone.
    assert await sweeps.forget_handled_updates(None) == handled
    assert await TelegramUpdate.all().count() == 1  # Only the /delegations of day 6.


async def test_help_lists_only_what_the_person_may_do(tg, bot, firm):
    bob = User(605, "Bob", language_code="en")
    await link(tg, firm.collaborator, bob)
    await tg.send_text(bob, "/help")
    bare = (await tg.next_in_chat(bob.id, 1)).text
    assert "/seal" not in bare and "/collect" not in bare and "/approve" not in bare
    assert "/sign" not in bare and "/credit" in bare
    await firm.grant(firm.collaborator, "prepare")
    await tg.send_text(bob, "/help")
    more = (await tg.next_in_chat(bob.id, 2)).text
    assert "/collect" in more and "/approve" not in more and "/seal" not in more
    await tg.send_text(bob, "/delegations")
    assert "dupont (collaborator): prepare" in (await tg.next_in_chat(bob.id, 3)).text


async def test_old_buttons_answer_clearly(tg, bot, firm, svc):
    anne = User(607, "Anne")
    await link(tg, firm.expert, anne)
    await tg.send_document(anne, make_pdf(1), "old.pdf")
    offer = await tg.next_in_chat(anne.id, 1)
    clock.fast_forward(hours=25)
    await tg.press(anne, offer, "Vérifier")
    stale = await tg.next_in_chat(anne.id, 2)
    assert "ne vaut plus" in stale.text
    assert any("ne vaut plus" in s.text for s in tg.sent if s.kind == "callback_answer")
    assert not tg.calls_to("getFile")


async def test_update_redelivered_after_a_restart_acts_once(tg, svc, firm):
    from bot.app import start_bot

    anne = User(609, "Anne")
    first = await start_bot(svc, poll_timeout=1)
    try:
        await link(tg, firm.expert, anne)
        update = await tg.send_text(anne, "/credit")
        await tg.expect(anne.id, "crédit(s) disponible(s)")
    finally:
        await first.stop()
    # The bot went away before confirming the offset: Telegram hands the update out again.
    await tg.push(dict(update))
    second = await start_bot(svc, poll_timeout=1)
    try:
        await tg.drained()
        await tg.send_text(anne, "/delegations")
        await tg.expect(anne.id, "dupont (expert-comptable)")
    finally:
        await second.stop()
    assert len([s for s in tg.chat(anne.id) if "crédit(s) disponible(s)" in s.text]) == 1
