"""/register in the bot asks a one-word name for its other part and an expert for their
cabinet's SIREN, typed, refusing one whose Luhn check digit is wrong."""

from __future__ import annotations

from tests.bot.conftest import link
from tests.fakes.telegram import User
from workflows import people
from workflows.actors import Actor
from workflows.models import Cabinet, Person


async def _say(tg, user, text: str, expect: str):
    n = len(tg.chat(user.id))
    await tg.send_text(user, text)
    return await tg.expect(user.id, expect, after=n)


async def test_name_then_siren_are_typed_before_the_identity_step(tg, svc, bot):
    op = Actor.operator()
    await people.create_cabinet(op, slug="neuf", name="Cabinet Neuf")
    person, _ = await people.add_person(op, email="zoe@neuf.test", name="Zoé", cabinet="neuf",
                                        role="expert")
    zoe = User(951, "Zoé")
    await link(tg, person, zoe)
    ask = await _say(tg, zoe, "/register", "votre nom")
    assert "« Zoé »" in ask.text
    await _say(tg, zoe, "Zoé", "deux mots au moins")
    ask = await _say(tg, zoe, "Zoé Lambert", "SIREN de votre cabinet")
    assert "Cabinet Neuf" in ask.text and (await Person.get(id=person.id)).name == "Zoé Lambert"
    await _say(tg, zoe, "123 456 789", "clé de Luhn")
    await _say(tg, zoe, "1234", "neuf chiffres")
    assert (await Cabinet.get(slug="neuf")).siren is None
    ask = await _say(tg, zoe, "552 100 554", "vos informations")
    assert "Zoé Lambert" in ask.text and (await Cabinet.get(slug="neuf")).siren == "552100554"
