"""A person not linked yet asks help@ by mail and gets a one-time Telegram deep link."""

from __future__ import annotations

import re

import pytest

from tests.dispatching import mail_dispatcher
from mail_gateway.server import start_gateway
from tests.fakes.dns import FakeDns, make_dkim_key
from tests.fakes.telegram import User
from tests.mail_gateway.mailer import body_text, build, raw, send, wait_outbox

HELP = "help@paraphe.localhost"
DEEP_LINK = re.compile(r"https://t\.me/paraphe_test_bot\?start=([A-Za-z0-9_-]+)")


@pytest.fixture(scope="module")
def dupont_test_key():
    return make_dkim_key("dupont.test", "mail")


@pytest.fixture
async def gateway(svc, dupont_test_key):
    dns = FakeDns()
    dns.publish(dupont_test_key)
    svc.settings.smtp_port = 0
    gw = await start_gateway(svc, dns=dns)
    worker = mail_dispatcher(svc, poll_interval=0.2)
    worker.start()
    yield gw
    await worker.stop()
    await gw.close()


async def _ask_help(gateway, key, settings, sender: str, count: int, subject: str) -> str:
    msg = build(sender=sender, to=HELP, subject=subject)
    await send(gateway.port, key.sign(raw(msg)), mail_from=sender, rcpts=HELP)
    replies = await wait_outbox(settings.home, count)
    assert len(replies) == count
    return body_text(replies[-1])


async def test_help_mail_gives_a_fresh_deep_link_that_start_uses(tg, bot, gateway, firm,
                                                                  dupont_test_key, settings):
    bob = User(851, "Bob", language_code="en")
    first = await _ask_help(gateway, dupont_test_key, settings, "collab@dupont.test", 1, "Help")
    assert "To link your Telegram account, open this link: https://t.me/paraphe_test_bot" in first
    assert "works once and expires on" in first
    old_code = DEEP_LINK.search(first).group(1)
    # Asking again mints a new code, and the first one stops working.
    second = await _ask_help(gateway, dupont_test_key, settings, "collab@dupont.test", 2,
                             "Help again")
    new_code = DEEP_LINK.search(second).group(1)
    assert new_code != old_code
    await tg.send_text(bob, f"/start {old_code}")
    refused = await tg.next_in_chat(bob.id, 0)
    assert "not valid" in refused.text
    await tg.send_text(bob, f"/start {new_code}")
    linked = await tg.next_in_chat(bob.id, 1)
    assert "collab@dupont.test" in linked.text
    await firm.collaborator.refresh_from_db()
    assert firm.collaborator.telegram_user_id == bob.id
    # Once linked, help@ says so and gives no code.
    third = await _ask_help(gateway, dupont_test_key, settings, "collab@dupont.test", 3, "Help")
    assert "Your Telegram account is linked" in third and not DEEP_LINK.search(third)


async def test_help_mail_in_french_and_without_a_bot_no_telegram(svc, gateway, firm,
                                                                 dupont_test_key, settings):
    # The expert writes in French; the bot is configured but has not started: /start code only.
    text = await _ask_help(gateway, dupont_test_key, settings, "expert@dupont.test", 1, "Aide")
    assert "envoyez au bot Paraphe : /start " in text and "sert une seule fois" in text
    svc.settings.telegram_token = None
    text = await _ask_help(gateway, dupont_test_key, settings, "expert@dupont.test", 2, "Aide")
    assert "Telegram" not in text
