"""Telegram link codes: one-time, expiring, one account per person, recorded as evidence."""

from __future__ import annotations

import pytest

from workflows import clock, linking, people
from workflows.actors import Actor
from workflows.errors import (
    LinkCodeExpiredError,
    LinkCodeInvalidError,
    TelegramAccountUnknownError,
    TelegramAlreadyLinkedError,
)
from workflows.models import EvidenceEvent

TG = Actor(person_id=None, channel="telegram", origin={"telegram_user_id": 1})


@pytest.fixture
async def two(db):
    op = Actor.operator()
    await people.create_cabinet(op, slug="cab", name="Cab")
    a, _ = await people.add_person(op, email="a@x.test", name="A", cabinet="cab", role="expert")
    b, _ = await people.add_person(op, email="b@x.test", name="B", cabinet="cab",
                                   role="collaborator")
    return a, b


async def test_code_links_once_and_is_used_up(two):
    a, _ = two
    code = await linking.link_code_for(a)
    assert code.deep_link("paraphe_bot") == f"https://t.me/paraphe_bot?start={code.code}"
    person = await linking.link_account(TG, code.code, 1001, username="anne")
    assert person.id == a.id and person.telegram_user_id == 1001
    assert person.telegram_link_code is None
    with pytest.raises(LinkCodeInvalidError):
        await linking.link_account(TG, code.code, 1002)
    event = await EvidenceEvent.get(kind="telegram.linked")
    assert event.person_id == a.id and event.data["telegram_user_id"] == 1001
    # A fresh code is issued on demand once the old one is used.
    fresh = await linking.link_code_for(person)
    assert fresh.code != code.code


async def test_code_expires_and_a_new_one_replaces_the_old(two):
    a, _ = two
    first = await linking.issue_link_code(a)
    second = await linking.issue_link_code(a)
    with pytest.raises(LinkCodeInvalidError):
        await linking.link_account(TG, first.code, 1001)
    clock.fast_forward(hours=72, seconds=1)
    with pytest.raises(LinkCodeExpiredError):
        await linking.link_account(TG, second.code, 1001)
    # The code written at the person's creation lasts the same time from then.
    renewed = await linking.link_code_for(a)
    assert renewed.code != second.code
    assert (await linking.link_account(TG, renewed.code, 1001)).telegram_user_id == 1001


async def test_one_telegram_account_per_person(two):
    a, b = two
    await linking.link_account(TG, (await linking.link_code_for(a)).code, 1001)
    with pytest.raises(TelegramAlreadyLinkedError):
        await linking.link_account(TG, (await linking.link_code_for(b)).code, 1001)
    for bad in ("", "x" * 65, "not-a-code"):
        with pytest.raises(LinkCodeInvalidError):
            await linking.link_account(TG, bad, 1003)


async def test_unlink(two):
    a, _ = two
    await linking.link_account(TG, (await linking.link_code_for(a)).code, 1001)
    assert (await linking.person_for_telegram(1001)).id == a.id
    await linking.unlink_account(TG, 1001)
    assert await linking.person_for_telegram(1001) is None
    with pytest.raises(TelegramAccountUnknownError):
        await linking.unlink_account(TG, 1001)
