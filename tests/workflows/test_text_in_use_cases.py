"""The one text rule applied where text enters the core, whatever the channel: names, titles,
messages and reasons with a control character, a lone surrogate, a bidi override or too long
are refused with text_invalid, and nothing is created or changed."""

from __future__ import annotations

import pytest

from tests.workflows.collection_world import (  # noqa: F401 - fixtures
    link_of,
    pdf,
    token_of,
    world,
    world_settings,
)
from workflows import apikeys, collections, people
from workflows.actors import Actor
from workflows.collections import SignerSpec
from workflows.errors import TextInvalidError
from workflows.models import Cabinet, Collection, Person, Signer

OP = Actor.operator()
REASONS = ["Non\x00merci", "Non \udfff", "\u2066Non"]
UNSAFE = ["Anne\x00Client", "Anne \ud800", "Anne\x1b[31m", "\u202eAnne", "Anne \ufffd"]


async def test_people_cabinets_and_keys_refuse_unsafe_names(world):
    for name in UNSAFE:
        with pytest.raises(TextInvalidError) as cabinet:
            await people.create_cabinet(OP, slug="neuf", name=name)
        assert cabinet.value.details == {"field": "name", "reason": "unsafe_character",
                                         "position": cabinet.value.details["position"]}
        with pytest.raises(TextInvalidError):
            await people.add_person(OP, email="neuf@dupre.test", name=name, cabinet="dupre",
                                    role="collaborator")
        with pytest.raises(TextInvalidError):
            await apikeys.create_key(OP, cabinet="dupre", email="expert@dupre.test", name=name)
    assert not await Cabinet.exists(slug="neuf")
    assert not await Person.exists(email="neuf@dupre.test")


async def test_a_collection_refuses_an_unsafe_signer_name_title_or_message(world):
    w = world

    async def create(**kw):
        args = {"signers": [SignerSpec("Client", "c@example.test")], **kw}
        return await collections.create_collection(
            w.svc, w.actor(w.expert), cabinet="dupre", documents=[("lettre.pdf", pdf())],
            **args)

    for name in UNSAFE:
        for kw, field in (({"signers": [SignerSpec("Client", "c@example.test"),
                                        SignerSpec(name, "d@example.test")]},
                           "signers[1].name"),
                          ({"title": name}, "title"),
                          ({"message": f"Bonjour\n{name}"}, "message")):
            with pytest.raises(TextInvalidError) as refused:
                await create(**kw)
            assert refused.value.details["field"] == field
    assert await Collection.all().count() == 0
    assert (await Cabinet.get(slug="dupre")).credit_balance == 100
    # Line breaks stay in a message, not in a name; a name keeps its accents.
    made = await create(message="Bonjour,\r\nmerci.\tSignez.", signers=[
        SignerSpec("  Élodie   Müller ", "e@example.test")])
    assert made.message == "Bonjour,\nmerci.\tSignez."
    assert (await Signer.get(collection_id=made.id)).name == "Élodie Müller"
    with pytest.raises(TextInvalidError) as refused:
        await create(signers=[SignerSpec("Anne\nClient", "f@example.test")])
    assert refused.value.details["reason"] == "line_break"


async def test_decline_and_reject_refuse_an_unsafe_reason(world):
    w = world
    made = await collections.create_collection(
        w.svc, w.actor(w.expert), cabinet="dupre", documents=[("lettre.pdf", pdf())],
        signers=[SignerSpec("Client", "c@example.test")])
    token = token_of(await link_of("c@example.test"))
    for reason in REASONS:
        with pytest.raises(TextInvalidError) as refused:
            await collections.decline(w.svc, token, reason, ip=None, user_agent=None)
        assert refused.value.details["field"] == "reason"
    assert (await Signer.get(collection_id=made.id)).state == "pending"
    assert (await Collection.get(id=made.id)).state == "in_progress"
    prepared = await collections.create_collection(
        w.svc, w.actor(w.preparer), cabinet="dupre", documents=[("b.pdf", pdf("B"))],
        signers=[SignerSpec("Client", "d@example.test")])
    for reason in REASONS:
        with pytest.raises(TextInvalidError):
            await collections.reject_collection(w.svc, w.actor(w.expert), prepared.id, reason)
    assert (await Collection.get(id=prepared.id)).state == "awaiting_approval"
    with pytest.raises(TextInvalidError) as refused:
        await collections.decline(w.svc, token, "x" * 2001, ip=None, user_agent=None)
    assert refused.value.details == {"field": "reason", "reason": "too_long", "limit": 2000}
