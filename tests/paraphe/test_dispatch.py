"""The one notification dispatcher: picks chat or mail for a person when it sends, sends with
the real senders (Maildir or a loopback relay; the fake Bot API), retries on one backoff
table, fails for good on a refusal, and never sends a row twice."""

from __future__ import annotations

import asyncio
from email import message_from_bytes, policy

import pytest
from pydantic import SecretStr

from bot.app import make_bot
from bot.delivery import TelegramSender
from mail_gateway import delivery as mail_delivery
from mail_gateway.delivery import MailSender
from paraphe import templating
from paraphe.dispatch import Dispatcher
from tests.fakes.smtp_sink import SmtpSink
from tests.fakes.telegram import FakeTelegram
from tests.mail_gateway.mailer import outbox, wait_outbox
from workflows import clock, linking, notifications, people
from workflows.actors import Actor
from workflows.models import Cabinet, Notification

OP = Actor.operator()
TG = Actor(person_id=None, channel="telegram")
LOW_CREDIT = {"cabinet": "dupont", "cabinet_name": "Cabinet Dupont", "balance": 3,
              "threshold": 5}


@pytest.fixture
async def tg():
    server = await FakeTelegram().start()
    yield server
    await server.close()


@pytest.fixture
async def svc(settings, db, tg):
    from workflows.services import Services

    settings.telegram_token = SecretStr(tg.token)
    settings.telegram_api_base = tg.base_url
    services = await Services.start(settings, templating)
    yield services
    await services.close()


@pytest.fixture
async def chat_bot(svc):
    """The service's Bot API client, as the running bot hands it to the dispatcher."""
    bot = make_bot(svc)
    yield bot
    await bot.session.close()


@pytest.fixture
async def people_(db):
    """Anne (expert, linked to Telegram as 801) and Marc (expert, English, not linked)."""
    await people.create_cabinet(OP, slug="dupont", name="Cabinet Dupont")
    anne, _ = await people.add_person(OP, email="anne@dupont.fr", name="Anne Dupont",
                                      cabinet="dupont", role="expert")
    marc, _ = await people.add_person(OP, email="marc@dupont.fr", name="Marc Roy",
                                      cabinet="dupont", role="expert", language="en")
    anne = await linking.link_account(TG, (await linking.link_code_for(anne)).code, 801)
    return anne, marc


async def _dupont() -> int:
    return (await Cabinet.get(slug="dupont")).id


def with_chat(svc, bot) -> Dispatcher:
    return Dispatcher(svc, {"mail": MailSender(svc), "telegram": TelegramSender(svc, bot)})


def mail_only(svc) -> Dispatcher:
    return Dispatcher(svc, {"mail": MailSender(svc)})


async def test_a_linked_person_is_told_in_the_chat_when_the_bot_runs(svc, tg, chat_bot,
                                                                      people_, settings):
    anne, marc = people_
    await notifications.to_experts(await _dupont(), "expert/low_credit", LOW_CREDIT,
                                   dedup_key="low:1")
    dispatcher = with_chat(svc, chat_bot)
    assert await dispatcher.run_once() == 2
    # Anne (linked): in her chat only. Marc (not linked): by mail, in English.
    (notice,) = tg.chat(801)
    assert "Cabinet Dupont" in notice.text and "3" in notice.text
    (mail,) = outbox(settings.home)
    assert mail["To"] == "marc@dupont.fr"
    assert mail["Subject"] == "Low credit for Cabinet Dupont: 3 left"
    rows = {n.person_id: n for n in await Notification.all()}
    assert (rows[anne.id].channel, rows[anne.id].recipient) == ("telegram", "801")
    assert rows[anne.id].message_id == str(notice.message_id)
    assert (rows[marc.id].channel, rows[marc.id].recipient) == ("mail", "marc@dupont.fr")
    assert {n.state for n in rows.values()} == {"sent"}
    assert await dispatcher.run_once() == 0  # Once.
    # Recording the notice again (same key) gives the first one, whatever its channel.
    again = await notifications.to_person(anne, "expert/low_credit", LOW_CREDIT,
                                          dedup_key=f"low:1:{anne.id}")
    assert again.id == rows[anne.id].id and again.channel == "telegram"


async def test_a_linked_person_is_told_by_mail_when_no_bot_runs(svc, tg, people_, settings):
    anne, _ = people_
    await notifications.to_person(anne, "expert/low_credit", LOW_CREDIT, dedup_key="low:a")
    assert await mail_only(svc).run_once() == 1
    (mail,) = outbox(settings.home)
    assert mail["To"] == "anne@dupont.fr" and mail["Subject"].startswith("Crédit bas")
    assert tg.chat(801) == []
    n = await Notification.get(dedup_key="low:a")
    assert (n.channel, n.recipient, n.state) == ("mail", "anne@dupont.fr", "sent")


async def test_a_notice_without_a_chat_version_goes_by_mail_even_when_linked(
        svc, tg, chat_bot, people_, settings):
    anne, _ = people_
    await notifications.to_person(anne, "registrant/registration_link",
                                  {"link": "https://x.test/r/1", "days": 7})
    assert await with_chat(svc, chat_bot).run_once() == 1
    assert [m["To"] for m in outbox(settings.home)] == ["anne@dupont.fr"]
    assert tg.chat(801) == []


async def test_a_temporary_failure_is_retried_on_the_backoff_table(svc, tg, chat_bot, people_):
    anne, _ = people_
    await notifications.to_person(anne, "expert/low_credit", LOW_CREDIT, dedup_key="low:t")
    tg.fail_next("sendMessage", 500, "Internal Server Error")
    dispatcher = with_chat(svc, chat_bot)
    assert await dispatcher.run_once() == 0
    n = await Notification.get(dedup_key="low:t")
    assert (n.state, n.attempts) == ("pending", 1) and "Internal Server Error" in n.last_error
    # The next attempt picks the channel again (the bot may be gone by then).
    assert n.channel == notifications.PERSON
    assert notifications.BACKOFF[0].total_seconds() == 10
    assert await dispatcher.run_once() == 0  # Not due yet.
    clock.fast_forward(seconds=11)
    assert await dispatcher.run_once() == 1
    assert len(tg.chat(801)) == 1
    n = await Notification.get(dedup_key="low:t")
    assert (n.state, n.channel, n.attempts, n.last_error) == ("sent", "telegram", 2, None)


async def test_a_relay_failure_is_retried_then_given_up_after_the_last_delay(svc, settings):
    sink = await SmtpSink().start()
    settings.smtp_relay = sink.address
    try:
        await notifications.enqueue(channel="mail", template="registrant/registration_link",
                                    recipient="x@client.test", dedup_key="m",
                                    context={"name": "X", "link": "https://x.test", "days": 7})
        dispatcher = mail_only(svc)
        sink.fail_next = len(notifications.BACKOFF) + 1
        for delay in notifications.BACKOFF:
            assert await dispatcher.run_once() == 0
            assert (await Notification.get(dedup_key="m")).state == "pending"
            clock.fast_forward(seconds=delay.total_seconds() + 1)
        assert await dispatcher.run_once() == 0
        n = await Notification.get(dedup_key="m")
        assert (n.state, n.attempts) == ("failed", len(notifications.BACKOFF) + 1)
        assert "451" in n.last_error and n.failure_reason is None
        clock.fast_forward(days=1)
        assert await dispatcher.run_once() == 0 and sink.messages == []
    finally:
        await sink.close()


async def test_a_refusal_fails_for_good_with_its_reason(svc, tg, chat_bot, people_, settings):
    anne, marc = people_
    sink = await SmtpSink().start()
    settings.smtp_relay = sink.address
    sink.unknown.add("marc@dupont.fr")
    try:
        await notifications.to_experts(await _dupont(), "expert/low_credit", LOW_CREDIT,
                                   dedup_key="low:r")
        tg.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
        dispatcher = with_chat(svc, chat_bot)
        assert await dispatcher.run_once() == 0
        chat = await Notification.get(dedup_key=f"low:r:{anne.id}")
        assert (chat.state, chat.failure_reason) == ("failed", "chat_forbidden")
        assert "blocked by the user" in chat.last_error
        mail = await Notification.get(dedup_key=f"low:r:{marc.id}")
        assert (mail.state, mail.failure_reason) == ("failed", "mailbox_unknown")
        assert "550" in mail.last_error and "No such user" in mail.last_error
        clock.fast_forward(days=1)
        assert await dispatcher.run_once() == 0
        assert tg.chat(801) == [] and sink.messages == []
    finally:
        await sink.close()


async def test_a_channel_without_a_sender_waits(svc, people_):
    n = await notifications.enqueue(channel="sms", template="signer/code", recipient="+33600000000",
                                    context={"code": "123456"})
    assert await mail_only(svc).run_once() == 0
    n = await Notification.get(id=n.id)
    assert (n.state, n.attempts) == ("pending", 0)


async def test_two_dispatchers_at_once_send_each_notification_once(svc, tg, people_, settings):
    anne, marc = people_
    sink = await SmtpSink().start()  # A relay, where a second send would be a second mail.
    settings.smtp_relay = sink.address
    bots = [make_bot(svc), make_bot(svc)]
    try:
        for i in range(12):
            await notifications.to_person(anne, "expert/low_credit",
                                          {**LOW_CREDIT, "balance": i}, dedup_key=f"a:{i}")
            await notifications.to_person(marc, "expert/low_credit",
                                          {**LOW_CREDIT, "balance": i}, dedup_key=f"m:{i}")
        first, second = (Dispatcher(svc, {"mail": MailSender(svc),
                                     "telegram": TelegramSender(svc, bot)}, batch=5)
                         for bot in bots)

        async def drain(dispatcher: Dispatcher) -> int:
            sent = 0
            while (swept := await dispatcher.sweep())[0]:
                sent += swept[1]
            return sent

        counts = await asyncio.gather(drain(first), drain(second))
        assert sum(counts) == 24
        assert sorted(int(s.text.split("il reste ")[1].split(" ")[0])
                      for s in tg.chat(801)) == list(range(12))
        assert len(sink.messages) == 12
        ids = {message_from_bytes(data, policy=policy.default)["Message-ID"]
               for _, _, data in sink.messages}
        assert len(ids) == 12
        assert await Notification.filter(state="sent").count() == 24
        assert await Notification.filter(attempts__gt=1).count() == 0
    finally:
        await sink.close()
        for bot in bots:
            await bot.session.close()


async def test_poke_wakes_the_running_dispatcher(svc, settings):
    dispatcher = Dispatcher(svc, {"mail": MailSender(svc)}, poll_interval=60)
    dispatcher.start()
    try:
        await asyncio.sleep(0.2)  # Its first sweep found nothing; now it waits a minute.
        await notifications.enqueue(channel="mail", template="registrant/registration_link",
                                    recipient="x@client.test",
                                    context={"name": "X", "link": "https://x.test", "days": 7})
        mail_delivery.poke()
        (mail,) = await wait_outbox(settings.home, 1, timeout=10)
        assert mail["To"] == "x@client.test"
    finally:
        await dispatcher.stop()
