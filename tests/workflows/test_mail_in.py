"""Secret mail-in addresses: shown again to their owner, found in one read, absent from a dump
of the database; the clear secrets of earlier versions hashed by the migration, still working."""

from __future__ import annotations


from tortoise import Tortoise, connections

from paraphe.db import close_database, open_database, tortoise_config
from workflows import mail_in, people
from workflows.actors import Actor
from workflows.models import Person

OP = Actor.operator()


async def _dump() -> str:
    """Every value of every row of every table, as text: what a stolen backup shows."""
    conn = connections.get("default")
    if conn.capabilities.dialect == "postgres":
        tables = [r["name"] for r in await conn.execute_query_dict(
            "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'")]
    else:
        tables = [r["name"] for r in await conn.execute_query_dict(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
    out = []
    for table in tables:
        for row in await conn.execute_query_dict(f'SELECT * FROM "{table}"'):
            out.extend(str(value) for value in row.values())
    assert len(tables) > 10 and out
    return "\n".join(out)


async def _person(settings) -> Person:
    await people.create_cabinet(OP, slug="dupont", name="Cabinet Dupont")
    person, _ = await people.add_person(OP, email="paul@dupont.fr", name="Paul Martin",
                                        cabinet="dupont", role="expert")
    return person


async def test_a_database_dump_does_not_reveal_the_mail_in_secret(settings, db):
    person = await _person(settings)
    secret = mail_in.secret_for(settings, person)
    mac = secret.split("_", 1)[1]
    assert len(mac) == 32 and mail_in.address_for(settings, person).startswith(f"seal+{secret}@")
    dump = await _dump()
    assert "paul@dupont.fr" in dump  # The dump is a real one.
    assert mac not in dump and secret not in dump


async def test_the_address_finds_its_owner_and_nothing_else(settings, db):
    person = await _person(settings)
    other, _ = await people.add_person(OP, email="anne@dupont.fr", name="Anne",
                                       cabinet="dupont", role="collaborator")
    secret = mail_in.secret_for(settings, person)
    assert (await mail_in.find_person(settings, secret)).id == person.id
    # Same person, shown again: the same address.
    again = await Person.get(id=person.id)
    assert mail_in.secret_for(settings, again) == secret
    mac = secret.split("_", 1)[1]
    for forged in (f"{other.id}_{mac}", f"{person.id}_{'0' * 32}", secret.upper(),
                   f"99999999999_{mac}", "", "x" * 65, mac):
        assert await mail_in.find_person(settings, forged) is None, forged
    # A new generation ends the old address.
    await Person.filter(id=person.id).update(mail_secret_generation=2)
    assert await mail_in.find_person(settings, secret) is None
    fresh = await Person.get(id=person.id)
    found = await mail_in.find_person(settings, mail_in.secret_for(settings, fresh))
    assert found.id == person.id


async def test_clear_secrets_of_an_earlier_version_are_hashed_and_keep_working(
        settings, empty_database_url):
    from tortoise.migrations.api.migrate import migrate

    s = settings.model_copy(update={"database_url": empty_database_url})
    old = "4f1c0b6d2e9a8b7c6d5e4f3a2b1c0d9e"  # token_hex(16), as add_person made them.
    try:
        await migrate(config=tortoise_config(empty_database_url), target="models.0001_initial")
        conn = connections.get("default")
        pg = conn.capabilities.dialect == "postgres"
        marks = ", ".join(f"${i}" if pg else "?" for i in range(1, 6))
        await conn.execute_query(
            f"INSERT INTO person (email, name, language, is_operator, mail_secret, created_at) "
            f"VALUES ({marks}, CURRENT_TIMESTAMP)",
            ["paul@dupont.fr", "Paul Martin", "fr", False, old])
    finally:
        await Tortoise.close_connections()
    await open_database(s)  # Applies 0002.
    try:
        person = await mail_in.find_person(s, old)
        assert person is not None and person.email == "paul@dupont.fr"
        assert person.mail_secret_generation == 1
        dump = await _dump()
        assert old not in dump and "paul@dupont.fr" in dump
        # The owner is shown the new, derived address; both work.
        assert (await mail_in.find_person(s, mail_in.secret_for(s, person))).id == person.id
    finally:
        await close_database()
