"""The same bytes uploaded under different names: each cabinet and each collection sees only
its own name, on the API, the signer pages, the mails and the evidence reports."""

from __future__ import annotations

import json
from urllib.parse import unquote

from mail_gateway.delivery import render_mail
from tests.web.signer_site import site  # noqa: F401 - fixture
from tests.workflows.collection_world import (  # noqa: F401 - fixtures
    OP,
    code_of,
    link_of,
    pdf,
    world_settings,
)
from workflows import apikeys, billing, collections
from workflows.collections import SignerSpec
from workflows.models import Cabinet, Notification

SAME = pdf("Lettre de mission confidentielle")
NAMES = {"a": "lettre-de-mission.pdf", "b": "b-interne.pdf", "a2": "annexe-dupre.pdf"}
SIGNER = {"a": "claire@client.test", "b": "bob@client.test", "a2": "cora@client.test"}


async def _api_create(site, token: str, name: str, email: str) -> dict:
    import aiohttp

    form = aiohttp.FormData()
    form.add_field("file", SAME, filename=name, content_type="application/pdf")
    form.add_field("signers", json.dumps([{"name": "Client", "email": email}]))
    async with site.session.post(f"{site.base}/api/v1/collections", data=form,
                                 headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 201, await r.text()
        return await r.json()


async def _sign(site, email: str) -> str:
    link = await link_of(email)
    r = await site.session.post(link + "/code", data={"channel": "mail"}, allow_redirects=False)
    assert r.status == 303
    r = await site.session.post(link + "/sign", data={"code": await code_of(email),
                                                      "consent": "yes"}, allow_redirects=False)
    assert r.status == 303, await r.text()
    return link


def _only(text: str, own: str) -> None:
    """`text` names `own` and none of the other names (nor their stems)."""
    own = own.removesuffix(".pdf")
    assert own in text, own
    for other in {n.removesuffix(".pdf") for n in NAMES.values()} - {own}:
        assert other not in text, (own, other)


async def _mails(recipients: list[str]) -> str:
    out = []
    for n in await Notification.filter(recipient__in=recipients,
                                       channel__in=("mail", "person")):
        subject, body = render_mail(f"mail/{n.template}", n.language, n.context)
        out.append(f"{subject}\n{body}\n{json.dumps(n.attachments)}")
    return "\n".join(out)


async def test_each_cabinet_and_collection_sees_only_its_own_name(site):
    w = site.world
    await billing.add_credit(OP, await Cabinet.get(slug="autre"), 20)
    keys = {
        "a": (await apikeys.create_key(OP, cabinet="dupre", email="expert@dupre.test",
                                       name="a")).token,
        "b": (await apikeys.create_key(OP, cabinet="autre", email="other@autre.test",
                                       name="b")).token}
    made = {"a": await _api_create(site, keys["a"], NAMES["a"], SIGNER["a"]),
            "b": await _api_create(site, keys["b"], NAMES["b"], SIGNER["b"])}
    # A second collection of the same cabinet, same bytes, another name.
    second = await collections.create_collection(
        w.svc, w.actor(w.expert), cabinet="dupre", documents=[(NAMES["a2"], SAME)],
        signers=[SignerSpec("Cora", SIGNER["a2"])])
    made["a2"] = {"id": second.id}
    auth = {"a": keys["a"], "b": keys["b"], "a2": keys["a"]}
    assert made["a"]["documents"][0]["original_sha256"] == \
        made["b"]["documents"][0]["original_sha256"]

    for who in ("a", "b", "a2"):
        cid, own, email = made[who]["id"], NAMES[who], SIGNER[who]
        headers = {"Authorization": f"Bearer {auth[who]}"}
        base = f"{site.base}/api/v1/collections/{cid}"
        async with site.session.get(base, headers=headers) as r:
            assert [d["filename"] for d in (await r.json())["documents"]] == [own]
        async with site.session.get(base + "/documents/1", headers=headers) as r:
            assert unquote(r.headers["Content-Disposition"]).endswith(f"''{own}")
        link = await link_of(email)
        async with site.session.get(link) as r:
            _only(await r.text(), own)
        async with site.session.get(link + "/documents/1") as r:
            assert unquote(r.headers["Content-Disposition"]).endswith(f"''{own}")
        await _sign(site, email)
        async with site.session.get(base + "/evidence", headers=headers) as r:
            report = await r.text()
        _only(report, own)
        async with site.session.get(link + "/evidence.json") as r:
            _only(await r.text(), own)
        async with site.session.get(link + "/documents/1") as r:
            assert unquote(r.headers["Content-Disposition"]).endswith(
                f"''{own.removesuffix('.pdf')}-signe.pdf")
        _only(await _mails([email]), own)
    # The mails of each cabinet's people name only their own documents.
    _only(await _mails(["other@autre.test"]), "b-interne")
    dupre = await _mails(["expert@dupre.test"])
    assert "b-interne" not in dupre and "lettre-de-mission" in dupre and "annexe-dupre" in dupre
