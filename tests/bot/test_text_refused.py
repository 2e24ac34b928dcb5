"""Text typed in the chat that the core refuses (a control or bidi character, too long) gets a
chat message saying so, and nothing changes."""

from __future__ import annotations

from tests.bot.conftest import link
from tests.bot.test_collections import _prepare
from tests.fakes.telegram import User
from workflows.models import EvidenceEvent


async def test_a_rejection_reason_with_a_bidi_override_is_refused_in_the_chat(tg, bot, firm, svc):
    anne, bob = User(861, "Anne"), User(862, "Bob", language_code="en")
    await firm.grant(firm.collaborator, "prepare")
    await link(tg, firm.expert, anne)
    await link(tg, firm.collaborator, bob)
    collection = await _prepare(tg, bob)
    n = len(tg.chat(anne.id))
    # U+202E makes "fdp.exe" read "exe.pdf": not a reason anybody should be shown.
    await tg.send_text(anne, f"/reject {collection.id} Mauvais \u202efdp.exe")
    refusal = await tg.expect(anne.id, "Ce texte ne peut pas être utilisé", after=n)
    assert "caractère de contrôle ou invalide" in refusal.text
    await collection.refresh_from_db()
    assert collection.state == "awaiting_approval" and collection.rejection_reason is None
    assert not await EvidenceEvent.filter(collection_id=collection.id,
                                          kind="collection.rejected").exists()
    await tg.send_text(anne, f"/reject {collection.id} Mauvais document")
    await tg.wait_for(lambda: any(f"n° {collection.id} refusée" in s.text
                                  for s in tg.chat(anne.id)))
