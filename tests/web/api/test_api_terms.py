"""The API refuses seals and collections of a cabinet without accepted terms: 403, its code."""

from __future__ import annotations

from tests.pdfs import make_pdf
from tests.terms import NEW, publish_new_version
from tests.web.api.conftest import conforms, pdf_form
from tests.web.api.test_api_collections import collection_form
from workflows import billing, people, terms
from workflows.actors import Actor
from workflows.models import Collection


async def test_seal_and_collection_are_403_until_the_expert_accepts(api, tmp_path):
    publish_new_version(api.svc.settings, tmp_path)
    async with api.session.post(api.url("/seals"), headers=api.auth("sealer"),
                                data=pdf_form(make_pdf(text="closed"))) as r:
        body = await conforms(r, "/seals", "post")
        assert r.status == 403, body
    assert body["code"] == "terms_not_accepted" and body["type"].endswith("terms_not_accepted")
    assert (body["cabinet"], body["version"], body["role"]) == ("alpha", NEW, "collaborator")
    assert "expert must first accept the terms" in body["detail"]
    async with api.session.post(api.url("/collections"), headers=api.auth("expert"),
                                data=collection_form("Lettre")) as r:
        body = await conforms(r, "/collections", "post")
        assert r.status == 403 and body["code"] == "terms_not_accepted"
        assert body["role"] == "expert"
    assert await Collection.all().count() == 0
    alpha = await people.get_cabinet("alpha")
    assert await billing.balance(alpha) == 50

    expert = await people.get_person("expert@alpha.test")
    await terms.accept_terms(api.svc, Actor(expert.id, "cli"), alpha, NEW)
    async with api.session.post(api.url("/seals"), headers=api.auth("sealer"),
                                data=pdf_form(make_pdf(text="open"))) as r:
        assert r.status == 201
    # Cabinet beta has not accepted the new version: still refused.
    async with api.session.post(api.url("/seals"), headers=api.auth("beta"),
                                data=pdf_form(make_pdf(text="beta"))) as r:
        assert r.status == 403 and (await r.json())["cabinet"] == "beta"
