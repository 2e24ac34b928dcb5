"""Low credit: one notice per crossing of the threshold, to each expert, by chat or by mail."""

import asyncio

from workflows import billing, linking, people
from workflows.actors import Actor
from workflows.models import Notification

OP = Actor.operator()
TG = Actor(person_id=None, channel="telegram")


async def _firm():
    cabinet = await people.create_cabinet(OP, slug="dupont", name="Cabinet Dupont")
    anne, _ = await people.add_person(OP, email="anne@dupont.fr", name="Anne Dupont",
                                      cabinet="dupont", role="expert")
    marc, _ = await people.add_person(OP, email="marc@dupont.fr", name="Marc Roy",
                                      cabinet="dupont", role="expert", language="en")
    await people.add_person(OP, email="bob@dupont.fr", name="Bob Martin", cabinet="dupont",
                            role="collaborator")
    # Marc linked Telegram: his notice goes to the chat when a bot runs; Anne's by mail; Bob
    # (a collaborator) gets none.
    await linking.link_account(TG, (await linking.link_code_for(marc)).code, 7001)
    return cabinet


async def _notices() -> list[tuple[str, str, str, int]]:
    rows = await Notification.filter(template="expert/low_credit").order_by("id")
    return [(n.channel, n.recipient, n.language, n.context["balance"]) for n in rows]


async def _audiences() -> list[tuple[str, str]]:
    # Who each notice is for; the channel is picked when it is sent (paraphe.dispatch).
    rows = await (Notification.filter(template="expert/low_credit").order_by("id")
                  .prefetch_related("person"))
    return [(n.channel, n.person.email) for n in rows]


async def test_notice_once_per_crossing_and_again_after_a_top_up(db):
    cabinet = await _firm()
    await billing.add_credit(OP, cabinet, 22)
    assert await billing.debit(cabinet, 1, operation="seal", low_credit_threshold=20) == 21
    assert await _notices() == []
    # 21 -> 19: below the threshold, each expert is told once, in their language, on the
    # channel the dispatcher will pick for them.
    await billing.debit(cabinet, 2, operation="seal", low_credit_threshold=20)
    assert await _notices() == [("person", "anne@dupont.fr", "fr", 19),
                                ("person", "marc@dupont.fr", "en", 19)]
    assert await _audiences() == [("person", "anne@dupont.fr"), ("person", "marc@dupont.fr")]
    first = await Notification.filter(template="expert/low_credit").first()
    assert first.context["cabinet_name"] == "Cabinet Dupont" and first.context["threshold"] == 20
    # Further seals below the threshold say nothing more.
    for _ in range(3):
        await billing.debit(cabinet, 1, operation="seal", low_credit_threshold=20)
    assert len(await _notices()) == 2
    # Credit added back above the threshold, then a launch reserving credit: a new crossing.
    await billing.add_credit(OP, cabinet, 10)  # 16 -> 26
    await billing.reserve(cabinet, 10, reference="collection:1", low_credit_threshold=20)
    assert [n[3] for n in await _notices()] == [19, 19, 16, 16]


async def test_credit_added_but_still_below_gives_no_new_notice(db):
    cabinet = await _firm()
    await billing.add_credit(OP, cabinet, 20)
    await billing.debit(cabinet, 5, operation="seal", low_credit_threshold=20)
    await billing.add_credit(OP, cabinet, 3)  # 18: still below
    await billing.debit(cabinet, 1, operation="seal", low_credit_threshold=20)
    assert [n[3] for n in await _notices()] == [15, 15]


async def test_racing_debits_cross_once(db):
    cabinet = await _firm()
    await billing.add_credit(OP, cabinet, 21)
    await asyncio.gather(*(billing.debit(cabinet, 1, operation="seal", low_credit_threshold=20)
                           for _ in range(4)))
    assert await billing.balance(cabinet) == 17
    assert len(await _notices()) == 2


async def test_without_a_bot_the_linked_expert_is_told_by_mail(db, settings):
    from types import SimpleNamespace

    from tests.dispatching import mail_dispatcher
    from tests.mail_gateway.mailer import outbox
    from workflows.pdf.engine import SigningEngine

    cabinet = await _firm()
    await billing.add_credit(OP, cabinet, 21)
    await billing.debit(cabinet, 2, operation="seal", low_credit_threshold=20)
    # A service without a bot: Marc linked Telegram, but his notice goes to his address, in
    # his language, with the mail version of the template; once (the chat never gets it).
    # Mail is composed in the engine's workers.
    engine = SigningEngine(settings)
    try:
        dispatcher = mail_dispatcher(SimpleNamespace(settings=settings, engine=engine))
        assert await dispatcher.run_once() == 2
        assert await dispatcher.run_once() == 0
    finally:
        engine.close()
    assert await _notices() == [("mail", "anne@dupont.fr", "fr", 19),
                                ("mail", "marc@dupont.fr", "en", 19)]
    assert await Notification.filter(template="expert/low_credit", state="sent").count() == 2
    mails = {m["To"]: m for m in outbox(settings.home)}
    assert sorted(mails) == ["anne@dupont.fr", "marc@dupont.fr"]
    assert mails["marc@dupont.fr"]["Subject"] == "Low credit for Cabinet Dupont: 19 left"
    assert mails["anne@dupont.fr"]["Subject"].startswith("Crédit bas pour Cabinet Dupont")
