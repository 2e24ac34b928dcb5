"""`GET /api/v1/cabinet`, `PUT /api/v1/cabinet/siren`: a seal needs the SIREN, checked (Luhn)."""

from __future__ import annotations

from tests.pdfs import make_pdf
from tests.web.api.conftest import OP, conforms, pdf_form
from workflows import apikeys, billing, people, terms
from workflows.actors import Actor


async def _gamma(api) -> dict[str, str]:
    """A cabinet without SIREN, its expert and a collaborator holding `seal`, with keys."""
    settings = api.svc.settings
    gamma = await people.create_cabinet(OP, slug="gamma", name="Cabinet Gamma")
    await billing.add_credit(OP, gamma, 10)
    expert, _ = await people.add_person(OP, email="expert@gamma.test", name="Gil Gamma",
                                        cabinet="gamma", role="expert")
    await terms.accept_terms(settings, Actor(expert.id, "cli"), gamma, settings.terms_version)
    await people.add_person(OP, email="collab@gamma.test", name="Cora Gamma", cabinet="gamma",
                            role="collaborator")
    return {who: (await apikeys.create_key(OP, cabinet="gamma", email=f"{who}@gamma.test",
                                           name=who)).token for who in ("expert", "collab")}


async def _put(api, token, body, path="/cabinet/siren"):
    async with api.session.put(api.url(path), json=body,
                               headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status, await conforms(r, path, "put")


async def test_a_seal_waits_for_a_valid_siren_given_by_the_expert(api):
    keys = await _gamma(api)
    auth = {"Authorization": f"Bearer {keys['expert']}"}
    async with api.session.post(api.url("/seals"), headers=auth,
                                data=pdf_form(make_pdf())) as r:
        problem = await conforms(r, "/seals", "post")
        assert r.status == 409 and problem["code"] == "cabinet_siren_missing"
    assert await billing.balance(await people.get_cabinet("gamma")) == 10  # Nothing billed.

    status, problem = await _put(api, keys["expert"], {"siren": "123456789"})
    assert status == 422 and problem["code"] == "siren_invalid"
    assert problem["reason"] == "checksum" and "check digit" in problem["detail"]
    status, problem = await _put(api, keys["expert"], {"siren": "12345678A"})
    assert status == 422 and problem["code"] == "siren_invalid"
    status, problem = await _put(api, keys["expert"], {"number": "552100554"})
    assert status == 422 and problem["code"] == "request_invalid"
    status, problem = await _put(api, keys["collab"], {"siren": "552100554"})
    assert status == 403 and problem["code"] == "not_a_member"
    assert (await people.get_cabinet("gamma")).siren is None

    status, body = await _put(api, keys["expert"], {"siren": "552 100 554"})
    assert status == 200 and body == {"slug": "gamma", "name": "Cabinet Gamma",
                                      "siren": "552100554"}
    async with api.session.get(api.url("/cabinet"), headers=auth) as r:
        assert r.status == 200 and (await conforms(r, "/cabinet"))["siren"] == "552100554"
    async with api.session.post(api.url("/seals"), headers=auth,
                                data=pdf_form(make_pdf())) as r:
        assert r.status == 201, await r.text()
    # Giving the same one again is harmless; another one is the operator's to set.
    assert (await _put(api, keys["expert"], {"siren": "552100554"}))[0] == 200
    status, problem = await _put(api, keys["expert"], {"siren": "732829320"})
    assert status == 409 and problem["code"] == "cabinet_siren_set"
