"""Bearer keys, scopes, revocation, rate limit and the OpenAPI document, over HTTP."""

from __future__ import annotations

import jsonschema_rs

from tests.cli import paraphe
from tests.web.api.conftest import conforms, pdf_form
from web.api import openapi
from workflows import apikeys
from workflows.actors import Actor


async def test_openapi_document_is_served_and_valid_3_1(api):
    async with api.session.get(api.url("/openapi.json")) as r:
        assert r.status == 200
        doc = await r.json()
    assert doc["openapi"] == "3.1.0"
    assert doc == openapi.document()
    # Every schema in it is a valid JSON Schema (2020-12, as OpenAPI 3.1 uses).
    for schema in doc["components"]["schemas"].values():
        jsonschema_rs.validator_for({**schema, "components": doc["components"]})
    assert {"/seals", "/collections", "/collections/{id}", "/credit",
            "/verify"} <= set(doc["paths"])


async def test_missing_and_unknown_keys_get_401_problem(api):
    async with api.session.get(api.url("/credit")) as r:
        body = await conforms(r, "/credit")
        assert r.status == 401
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert body["code"] == "api_key_invalid"
    forged = api.keys["expert"][:-4] + "AAAA"
    for token in (forged, "pk_nothere_xyz", "garbage"):
        async with api.session.get(api.url("/credit"),
                                   headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 401
            assert (await r.json(content_type=None))["code"] == "api_key_invalid"


async def test_revoked_key_is_refused_at_once(api):
    async with api.session.get(api.url("/credit"), headers=api.auth("beta")) as r:
        assert r.status == 200
    keys = await apikeys.list_keys("beta")
    assert await apikeys.revoke_key(Actor.operator(), cabinet="beta", key_id=keys[0].id)
    async with api.session.get(api.url("/credit"), headers=api.auth("beta")) as r:
        body = await conforms(r, "/credit")
        assert r.status == 401 and body["code"] == "api_key_revoked"


async def test_scope_missing_is_403(api):
    async with api.session.post(api.url("/seals"), headers=api.auth("readonly"),
                                data=pdf_form(b"%PDF-1.7")) as r:
        body = await conforms(r, "/seals", "post")
        assert r.status == 403 and body["code"] == "scope_missing"
    async with api.session.get(api.url("/credit"), headers=api.auth("readonly")) as r:
        body = await conforms(r, "/credit")
        assert r.status == 200
        assert body == {"cabinet": "alpha", "available": 50, "reserved": 0,
                        "tariffs": {"seal": 1, "signature": 1}}


async def test_unknown_route_is_a_problem_404(api):
    async with api.session.get(api.url("/nothing"), headers=api.auth()) as r:
        assert r.status == 404
        assert r.content_type == "application/problem+json"
        assert (await r.json(content_type=None))["status"] == 404


async def test_rate_limit_answers_429_with_retry_after(limited_api):
    api = limited_api
    statuses = []
    for _ in range(6):
        async with api.session.get(api.url("/credit"), headers=api.auth()) as r:
            statuses.append(r.status)
            if r.status == 429:
                body = await conforms(r, "/credit")
                assert body["code"] == "rate_limited"
                assert int(r.headers["Retry-After"]) >= 1
    assert statuses[:3] == [200, 200, 200]
    assert 429 in statuses[3:]
    # Another key has its own bucket.
    async with api.session.get(api.url("/credit"), headers=api.auth("beta")) as r:
        assert r.status == 200


def test_apikey_cli_create_list_revoke(settings):
    assert paraphe(settings, "cabinet", "add", "gamma", "--name", "Gamma").code == 0
    assert paraphe(settings, "user", "add", "g@gamma.test", "--name", "G", "--cabinet", "gamma",
                   "--role", "expert").code == 0
    created = paraphe(settings, "apikey", "create", "gamma", "--as", "g@gamma.test",
                      "--name", "Logiciel X", "--scopes", "seal,read")
    assert created.code == 0, created.err
    token = created.out.splitlines()[0]
    assert token.startswith("pk_")
    listed = paraphe(settings, "apikey", "list", "gamma", "--json")
    rows = listed.json()
    assert [r["scopes"] for r in rows] == [["seal", "read"]]
    assert token not in listed.out  # Only a hash is kept: the secret never shows again.
    assert paraphe(settings, "apikey", "revoke", "gamma", str(rows[0]["id"])).code == 0
    assert paraphe(settings, "apikey", "list", "gamma", "--json").json()[0]["revoked_at"]
    bad = paraphe(settings, "apikey", "create", "gamma", "--as", "g@gamma.test", "--name", "X",
                  "--scopes", "admin")
    assert bad.code != 0 and "scope" in bad.err and len(bad.err.strip().splitlines()) == 1
