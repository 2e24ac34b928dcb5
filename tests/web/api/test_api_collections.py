"""Collections over HTTP: create, read, list with cursor and filters, launch, cancel, remind,
download."""

from __future__ import annotations

import json
import re

import aiohttp

from tests.pdfs import make_pdf
from tests.web.api.conftest import conforms
from workflows import delegations, people
from workflows.actors import Actor
from workflows.models import ApiIdempotency, Collection, LedgerEntry, Reservation

SIGNERS = json.dumps([{"name": "Claire Client", "email": "claire@client.test"},
                      {"name": "Paul Client", "email": "paul@client.test",
                       "phone": "+33612345678"}])


def collection_form(*texts: str, signers: str = SIGNERS, pdf: bytes | None = None,
                    **fields) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for text in texts or ("Lettre de mission",):
        form.add_field("file", pdf or make_pdf(text=text), filename=f"{text[:12]}.pdf",
                       content_type="application/pdf")
    form.add_field("signers", signers)
    for name, value in fields.items():
        form.add_field(name, str(value))
    return form


async def _create(api, key="expert", **fields):
    async with api.session.post(api.url("/collections"), headers=api.auth(key),
                                data=collection_form(**fields)) as r:
        return r.status, await conforms(r, "/collections", "post"), r.headers


async def test_create_read_and_download(api):
    status, body, headers = await _create(api, title="Bilan 2025", message="Merci")
    assert status == 201, body
    assert body["state"] == "in_progress" and body["title"] == "Bilan 2025"
    assert [s["email"] for s in body["signers"]] == ["claire@client.test", "paul@client.test"]
    assert {s["state"] for s in body["signers"]} == {"pending"}
    assert headers["Location"] == f"/api/v1/collections/{body['id']}"
    async with api.session.get(api.url(f"/collections/{body['id']}"),
                               headers=api.auth("readonly")) as r:
        assert r.status == 200
        assert (await conforms(r, "/collections/{id}"))["id"] == body["id"]
    path = f"/collections/{body['id']}/documents/{body['documents'][0]['position']}"
    async with api.session.get(api.url(path), headers=api.auth("readonly")) as r:
        pdf = await conforms(r, "/collections/{id}/documents/{position}")
        assert r.status == 200 and pdf.startswith(b"%PDF")
    # Credit was reserved at launch: 2 signers x 1 document.
    async with api.session.get(api.url("/credit"), headers=api.auth()) as r:
        assert (await r.json())["reserved"] == 2


async def test_other_cabinet_gets_404_never_403(api):
    _, body, _ = await _create(api)
    cid = body["id"]
    for method, path in (("GET", f"/collections/{cid}"), ("POST", f"/collections/{cid}/cancel"),
                         ("POST", f"/collections/{cid}/remind"),
                         ("GET", f"/collections/{cid}/documents/1"),
                         ("GET", f"/collections/{cid}/evidence")):
        async with api.session.request(method, api.url(path), headers=api.auth("beta")) as r:
            assert r.status == 404, (method, path, r.status)
            assert r.content_type == "application/problem+json"
    async with api.session.get(api.url("/collections"), headers=api.auth("beta")) as r:
        assert (await conforms(r, "/collections"))["items"] == []
    for missing in ("999999", "99999999999999", "abc"):
        async with api.session.get(api.url(f"/collections/{missing}"), headers=api.auth()) as r:
            assert r.status == 404


async def test_list_with_cursor_and_filters(api):
    ids = [(await _create(api, title=f"C{i}"))[1]["id"] for i in range(3)]
    async with api.session.get(api.url("/collections"), headers=api.auth(),
                               params={"limit": "2"}) as r:
        page1 = await conforms(r, "/collections")
    assert [c["id"] for c in page1["items"]] == ids[::-1][:2] and page1["next_cursor"]
    async with api.session.get(api.url("/collections"), headers=api.auth(),
                               params={"limit": "2", "cursor": page1["next_cursor"]}) as r:
        page2 = await conforms(r, "/collections")
    assert [c["id"] for c in page2["items"]] == [ids[0]] and page2["next_cursor"] is None
    async with api.session.post(api.url(f"/collections/{ids[1]}/cancel"),
                                headers=api.auth()) as r:
        assert (await conforms(r, "/collections/{id}/cancel", "post"))["state"] == "cancelled"
    async with api.session.get(api.url("/collections"), headers=api.auth(),
                               params={"state": "cancelled"}) as r:
        assert [c["id"] for c in (await r.json())["items"]] == [ids[1]]
    async with api.session.get(api.url("/collections"), headers=api.auth(),
                               params={"created_after": "2999-01-01T00:00:00Z"}) as r:
        assert (await r.json())["items"] == []
    async with api.session.get(api.url("/collections"), headers=api.auth(),
                               params={"created_before": "2999-01-01"}) as r:
        assert len((await r.json())["items"]) == 3
    for params in ({"state": "bogus"}, {"limit": "0"}, {"cursor": "!!"},
                   {"created_after": "yesterday"}):
        async with api.session.get(api.url("/collections"), headers=api.auth(),
                                   params=params) as r:
            body = await conforms(r, "/collections")
            assert r.status == 422 and body["code"] == "request_invalid", params


async def test_prepare_then_launch_cancel_conflict_and_remind(api):
    alpha = await people.get_cabinet("alpha")
    collab = await people.get_person("collab@alpha.test")
    status, body, _ = await _create(api, key="collab")
    assert status == 403 and body["code"] == "delegation_missing"
    await delegations.grant(Actor.operator(), collab, alpha, "prepare")
    status, body, _ = await _create(api, key="collab")
    assert status == 201 and body["state"] == "awaiting_approval"
    cid = body["id"]
    async with api.session.post(api.url(f"/collections/{cid}/launch"),
                                headers=api.auth("collab")) as r:
        assert r.status == 403
    async with api.session.post(api.url(f"/collections/{cid}/launch"), headers=api.auth()) as r:
        launched = await conforms(r, "/collections/{id}/launch", "post")
        assert r.status == 200 and launched["state"] == "in_progress"
    async with api.session.post(api.url(f"/collections/{cid}/remind"), headers=api.auth()) as r:
        reminded = await conforms(r, "/collections/{id}/remind", "post")
        assert r.status == 200 and reminded["reminded"] == 2
    async with api.session.post(api.url(f"/collections/{cid}/cancel"), headers=api.auth()) as r:
        assert r.status == 200
    async with api.session.post(api.url(f"/collections/{cid}/cancel"), headers=api.auth()) as r:
        body = await conforms(r, "/collections/{id}/cancel", "post")
        assert r.status == 409 and body["code"] == "collection_state"
    async with api.session.post(api.url(f"/collections/{cid}/launch"),
                                headers=api.auth("readonly")) as r:
        assert r.status == 403 and (await r.json(content_type=None))["code"] == "scope_missing"


async def test_create_is_idempotent_and_checks_input(api):
    headers = api.auth(**{"Idempotency-Key": "erp-batch-7"})
    # make_pdf gives each file a fresh /ID: the retried request sends the very same bytes.
    pdf = make_pdf(text="Mission")
    answers = []
    for _ in range(2):
        async with api.session.post(api.url("/collections"), headers=headers,
                                    data=collection_form("Mission", pdf=pdf)) as r:
            answers.append((r.status, await r.json()))
    assert answers[0] == answers[1] and answers[0][0] == 201
    assert await Collection.all().count() == 1
    async with api.session.post(api.url("/collections"), headers=headers,
                                data=collection_form("Autre")) as r:
        assert r.status == 422
        assert (await r.json(content_type=None))["code"] == "idempotency_key_reused"
    for signers in ("not json", "[]", '[{"name": "x"}]'):
        async with api.session.post(api.url("/collections"), headers=api.auth(),
                                    data=collection_form(signers=signers)) as r:
            assert r.status == 422, signers
    async with api.session.post(api.url("/collections"), headers=api.auth(),
                                data={"signers": SIGNERS}) as r:
        assert (await r.json(content_type=None))["code"] == "document_missing"
    assert await Collection.all().count() == 1


async def test_evidence_report_of_a_collection(api):
    _, body, _ = await _create(api)
    async with api.session.get(api.url(f"/collections/{body['id']}/evidence"),
                               headers=api.auth("readonly")) as r:
        report = await conforms(r, "/collections/{id}/evidence")
        assert r.status == 200, report
    # The PDF is rendered once, when the collection ends; before, the JSON only.
    async with api.session.get(api.url(f"/collections/{body['id']}/evidence"),
                               headers=api.auth("readonly", Accept="application/pdf")) as r:
        assert r.status == 404 and (await r.json(content_type=None))["code"] == "document_not_found"
    async with api.session.post(api.url(f"/collections/{body['id']}/cancel"),
                                headers=api.auth()) as r:
        assert r.status == 200
    pdfs = []
    for _ in range(2):
        async with api.session.get(api.url(f"/collections/{body['id']}/evidence"),
                                   headers=api.auth("readonly", Accept="application/pdf")) as r:
            pdf = await conforms(r, "/collections/{id}/evidence")
            assert r.content_type == "application/pdf" and pdf.startswith(b"%PDF")
            pdfs.append(pdf)
    assert pdfs[0] == pdfs[1]  # stored once, served as it is
    async with api.session.get(api.url(f"/collections/{body['id']}/evidence.p7s"),
                               headers=api.auth("readonly")) as r:
        p7s = await conforms(r, "/collections/{id}/evidence.p7s")
        assert r.status == 200 and p7s[:1] == b"\x30"  # a DER SEQUENCE


def _wrong_startxref() -> bytes:
    # Off by three bytes: pyHanko's lenient mode finds the table, its strict mode (the
    # signers') does not.
    data = make_pdf(2, text="Mauvais startxref")
    offset = int(re.search(rb"startxref\n(\d+)", data).group(1))
    return data.replace(b"startxref\n%d" % offset, b"startxref\n%d" % (offset - 3))


def _false_count() -> bytes:
    return make_pdf(2, text="Faux Count").replace(b"/Count 2", b"/Count 9")


async def test_a_pdf_the_signers_could_not_sign_is_refused_with_nothing_reserved(api):
    ledger = await LedgerEntry.all().count()
    for pdf, reason in ((_wrong_startxref(), "xref"), (_false_count(), "page_count")):
        async with api.session.post(api.url("/collections"), headers=api.auth(),
                                    data=collection_form(pdf=pdf)) as r:
            problem = await conforms(r, "/collections", "post")
            assert r.status == 422, problem
        assert (problem["code"], problem["reason"]) == ("document_broken", reason)
    assert problem["declared"] == 9 and problem["pages"] == 2
    assert await Collection.all().count() == 0 and await Reservation.all().count() == 0
    assert await LedgerEntry.all().count() == ledger
    async with api.session.get(api.url("/credit"), headers=api.auth()) as r:
        assert (await r.json())["reserved"] == 0


async def test_a_retry_after_a_crash_gets_the_collection_the_first_request_created(api):
    from tests.web.api.test_api_seals import _dead_holder

    headers = api.auth(**{"Idempotency-Key": "erp-crash-1"})
    pdf = make_pdf(text="Lettre de mission")
    async with api.session.post(api.url("/collections"), headers=headers,
                                data=collection_form(pdf=pdf)) as r:
        assert r.status == 201
        first = await r.json()
    # As a crash between the creation's commit and the stored answer leaves it.
    await ApiIdempotency.filter(key="erp-crash-1").update(status=None, holder=_dead_holder())
    async with api.session.post(api.url("/collections"), headers=headers,
                                data=collection_form(pdf=pdf)) as r:
        assert r.status == 201
        assert (await r.json())["id"] == first["id"]
    assert await Collection.all().count() == 1 and await Reservation.all().count() == 1
