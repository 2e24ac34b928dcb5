"""The API seal's cached lookups: what a revocation changes is refused at once on this
instance, within caches.TTL when another process wrote it; one seal's statements stay few."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import asyncpg

from paraphe import metrics
from tests.pdfs import make_pdf
from tests.web.api.conftest import pdf_form
from workflows import apikeys, caches, delegations, people
from workflows.actors import Actor
from workflows.models import Membership
from workflows.shared_state import is_postgres

OP = Actor.operator()
# Measured with every lookup answered from the caches: 5 on SQLite (debit, ledger entry,
# document, evidence head, evidence event); 5 on PostgreSQL, where the debit and its entry
# are one statement and so are the head and the event, but the shared rate bucket and the
# document's bytes (a row) add two. Before: 12 and 15. Headroom for a write or two, not for
# the lookups coming back.
MAX_STATEMENTS_PER_SEAL = {"sqlite": 7, "postgres": 7}


def backend(api) -> str:
    return "postgres" if is_postgres(api.svc.settings.database_url) else "sqlite"


async def _seal(api, key: str = "sealer", text: str = "x") -> tuple[int, dict]:
    async with api.session.post(api.url("/seals"), headers=api.auth(key),
                                data=pdf_form(make_pdf(text=text))) as r:
        return r.status, await r.json(content_type=None)


def _statements() -> float:
    return metrics.STATEMENTS._value.get()


async def test_one_api_seal_sends_few_statements(api):
    assert (await _seal(api, text="warm"))[0] == 201  # The caches fill.
    counts = []
    for i in range(5):
        before = _statements()
        status, _ = await _seal(api, text=f"counted {i}")
        assert status == 201
        counts.append(_statements() - before)
    # The counter is the process's: a background sweep may add to one seal's count now and
    # then, so the median of five is what is bounded.
    assert sorted(counts)[2] <= MAX_STATEMENTS_PER_SEAL[backend(api)], counts


async def test_revoked_delegation_refuses_the_next_seal_at_once(api):
    alpha = await people.get_cabinet("alpha")
    sealer = await people.get_person("sealer@alpha.test")
    assert (await _seal(api, text="before"))[0] == 201
    assert await delegations.revoke(OP, sealer, alpha, "seal") is True
    status, body = await _seal(api, text="after")
    assert (status, body["code"]) == (403, "delegation_missing")


async def test_revoked_key_and_removed_member_refused_at_once(api):
    alpha = await people.get_cabinet("alpha")
    assert (await _seal(api, text="before"))[0] == 201
    sealer_key = [k for k in await apikeys.list_keys("alpha") if k.name == "test sealer"][0]
    assert await apikeys.revoke_key(OP, cabinet="alpha", key_id=sealer_key.id) is True
    status, body = await _seal(api, text="revoked key")
    assert (status, body["code"]) == (401, "api_key_revoked")
    assert (await _seal(api, "expert", text="expert"))[0] == 201
    collab = await people.get_person("collab@alpha.test")
    await delegations.grant(OP, collab, alpha, "seal")
    assert (await _seal(api, "collab", text="collab"))[0] == 201
    assert await people.remove_collaborator(OP, alpha, collab.id) is True
    status, body = await _seal(api, "collab", text="removed")
    assert (status, body["code"]) == (403, "not_a_member")


async def _delete_elsewhere(database_url: str, membership_id: int) -> None:
    """What another instance (PostgreSQL) or the CLI beside the service (SQLite) would do:
    a write on a connection of its own, which this process never sees."""
    sql = "DELETE FROM delegation WHERE membership_id = {} AND action = 'seal'"
    if is_postgres(database_url):
        connection = await asyncpg.connect(database_url.replace("asyncpg://", "postgres://"))
        try:
            assert await connection.execute(sql.format("$1"), membership_id) == "DELETE 1"
        finally:
            await connection.close()
        return

    def delete() -> None:
        with sqlite3.connect(database_url.removeprefix("sqlite://").split("?")[0]) as db:
            assert db.execute(sql.format("?"), (membership_id,)).rowcount == 1

    await asyncio.to_thread(delete)


async def test_revocation_by_another_process_seen_within_the_ttl(api, settings):
    alpha = await people.get_cabinet("alpha")
    sealer = await people.get_person("sealer@alpha.test")
    membership = await Membership.get(person_id=sealer.id, cabinet_id=alpha.id)
    assert await delegations.may(sealer, alpha, "seal")  # Cached now.
    await _delete_elsewhere(settings.database_url, membership.id)
    written = time.monotonic()
    while await delegations.may(sealer, alpha, "seal"):
        assert time.monotonic() - written <= caches.TTL + 0.5, "still allowed past the TTL"
        await asyncio.sleep(0.05)
    status, body = await _seal(api, text="after")
    assert (status, body["code"]) == (403, "delegation_missing")
