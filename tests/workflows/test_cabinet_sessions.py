"""Signing in to the cabinet space (the core): a code and a link by mail to members only,
rate-limited; sessions stored hashed, listed, revoked by their owner only."""

from __future__ import annotations

import asyncio

import pytest

from tests.workflows.collection_world import world, world_settings  # noqa: F401 - fixtures
from workflows import cabinet_sessions, clock, otp
from workflows.actors import Actor
from workflows.errors import OtpExpiredError, OtpInvalidError, OtpLockedError
from workflows.models import CabinetSession, Notification, Person


async def _mail(address):
    return await Notification.filter(recipient=address, template="member/sign_in").order_by(
        "-id").first()


async def test_members_get_a_code_others_nothing(world):  # noqa: F811
    settings = world.svc.settings
    assert await cabinet_sessions.ask_sign_in(settings, "Expert@Dupre.test")
    assert not await cabinet_sessions.ask_sign_in(settings, "nobody@nowhere.test")
    assert not await cabinet_sessions.ask_sign_in(settings, "not an address")
    await Person.create(email="loose@x.test", name="No Cabinet", created_at=clock.now())
    assert not await cabinet_sessions.ask_sign_in(settings, "loose@x.test")
    # Rate-limited per address: no second mail within 30 s, five an hour.
    assert not await cabinet_sessions.ask_sign_in(settings, "expert@dupre.test")
    for _ in range(otp.MAX_PER_WINDOW - 1):
        clock.fast_forward(seconds=31)
        assert await cabinet_sessions.ask_sign_in(settings, "expert@dupre.test")
    clock.fast_forward(seconds=31)
    assert not await cabinet_sessions.ask_sign_in(settings, "expert@dupre.test")
    assert await Notification.filter(template="member/sign_in").count() == otp.MAX_PER_WINDOW


async def test_code_opens_a_session_stored_hashed(world):  # noqa: F811
    await cabinet_sessions.ask_sign_in(world.svc.settings, "expert@dupre.test")
    code = (await _mail("expert@dupre.test")).context["code"]
    opened = await cabinet_sessions.sign_in_with_code("expert@dupre.test", code, ip="192.0.2.7",
                                                      user_agent="UA\x00\nwith break" * 30)
    row = await CabinetSession.get(id=opened.session.id)
    assert row.token_hash == cabinet_sessions.token_hash(opened.token) != opened.token
    assert len(row.user_agent) <= 200
    assert "\n" not in row.user_agent and "\x00" not in row.user_agent
    assert (await cabinet_sessions.session_for(opened.token)).person_id == world.expert.id
    with pytest.raises(OtpExpiredError):  # Used.
        await cabinet_sessions.sign_in_with_code("expert@dupre.test", code)
    clock.fast_forward(days=8)
    assert await cabinet_sessions.session_for(opened.token) is None  # Expired.


async def test_code_expires_after_ten_minutes(world):  # noqa: F811
    await cabinet_sessions.ask_sign_in(world.svc.settings, "expert@dupre.test")
    mail = await _mail("expert@dupre.test")
    clock.fast_forward(minutes=10, seconds=1)
    with pytest.raises(OtpExpiredError):
        await cabinet_sessions.sign_in_with_code("expert@dupre.test", mail.context["code"])
    with pytest.raises(OtpExpiredError):
        await cabinet_sessions.sign_in_with_link(mail.context["link"].rsplit("/", 1)[1])


async def test_concurrent_guesses_get_five_comparisons(world):  # noqa: F811
    await cabinet_sessions.ask_sign_in(world.svc.settings, "expert@dupre.test")
    code = (await _mail("expert@dupre.test")).context["code"]
    guesses = [f"{n:06d}" for n in range(30) if f"{n:06d}" != code] + [code]

    async def guess(value):
        try:
            await cabinet_sessions.sign_in_with_code("expert@dupre.test", value)
            return "ok"
        except (OtpInvalidError, OtpLockedError, OtpExpiredError) as exc:
            return exc.code
    answers = await asyncio.gather(*(guess(g) for g in guesses))
    assert answers.count("otp_invalid") + answers.count("ok") <= otp.MAX_ATTEMPTS
    assert await CabinetSession.filter().count() == answers.count("ok") <= 1


async def test_sessions_listed_and_revoked_by_their_owner(world):  # noqa: F811
    a = await cabinet_sessions.open_session(world.expert, ip=None, user_agent="A", how="code")
    b = await cabinet_sessions.open_session(world.expert, ip=None, user_agent="B", how="code")
    assert [s.user_agent for s in await cabinet_sessions.sessions_of(world.expert.id)] == [
        "B", "A"]
    assert not await cabinet_sessions.revoke_session(Actor(world.outsider.id, "web"),
                                                     a.session.id)
    assert await cabinet_sessions.revoke_session(Actor(world.expert.id, "web"), a.session.id)
    assert await cabinet_sessions.session_for(a.token) is None
    assert await cabinet_sessions.session_for(b.token) is not None
    assert not await cabinet_sessions.revoke_session(Actor(world.expert.id, "web"),
                                                     a.session.id)
