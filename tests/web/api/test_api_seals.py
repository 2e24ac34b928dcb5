"""`POST /api/v1/seals`, `/verify`, `/credit` over HTTP: outputs, errors, idempotent replays,
billing."""

from __future__ import annotations

import asyncio
import io
import socket
import subprocess

from tests.pdfs import make_pdf
from tests.web.api.conftest import conforms, pdf_form, raw_multipart
from workflows import billing, clock, idempotency, people
from workflows.models import ApiIdempotency, LedgerEntry


async def _balance(slug="alpha") -> int:
    return await billing.balance(await people.get_cabinet(slug))


async def test_seal_returns_json_then_pdf_by_accept(api):
    async with api.session.post(api.url("/seals"), headers=api.auth(),
                                data=pdf_form(make_pdf(text="json"))) as r:
        body = await conforms(r, "/seals", "post")
        assert r.status == 201, body
    assert body["cabinet"] == "alpha" and body["filename"] == "lettre-scelle.pdf"
    assert body["credit_left"] == 49
    async with api.session.post(api.url("/seals"), headers=api.auth(Accept="application/pdf"),
                                data=pdf_form(make_pdf(text="pdf"))) as r:
        data = await conforms(r, "/seals", "post")
        assert r.status == 201 and r.content_type == "application/pdf"
        assert "lettre-scelle.pdf" in r.headers["Content-Disposition"]
    assert data.startswith(b"%PDF") and b"/ByteRange" in data
    # The sealed PDF verifies through the API itself.
    async with api.session.post(api.url("/verify"), headers=api.auth("readonly"),
                                data=pdf_form(data)) as r:
        report = await conforms(r, "/verify", "post")
        assert r.status == 200 and report["ok"] is True
    assert await _balance() == 48


async def test_idempotent_replay_bills_once_and_other_body_is_422(api):
    pdf = make_pdf(text="once")
    headers = api.auth(**{"Idempotency-Key": "invoice-42"})
    answers = []
    for _ in range(2):
        async with api.session.post(api.url("/seals"), headers=headers, data=pdf_form(pdf)) as r:
            answers.append((r.status, await conforms(r, "/seals", "post"),
                            r.headers.get("Idempotent-Replayed")))
    assert answers[0][0] == answers[1][0] == 201
    assert answers[0][1] == answers[1][1]
    assert answers[1][2] == "true" and answers[0][2] is None
    assert await _balance() == 49
    assert await LedgerEntry.filter(kind="debit").count() == 1
    async with api.session.post(api.url("/seals"), headers=headers,
                                data=pdf_form(make_pdf(text="another"))) as r:
        body = await conforms(r, "/seals", "post")
        assert r.status == 422 and body["code"] == "idempotency_key_reused"
    assert await _balance() == 49


async def test_concurrent_retries_with_one_key_bill_once(api):
    pdf = make_pdf(text="race")
    headers = api.auth(**{"Idempotency-Key": "race-1"})

    async def post():
        async with api.session.post(api.url("/seals"), headers=headers, data=pdf_form(pdf)) as r:
            return r.status, await r.json(content_type=None)

    results = await asyncio.gather(*(post() for _ in range(4)))
    # Each is either the seal or "still in progress" (409); never a second bill.
    assert {s for s, _ in results} <= {201, 409}
    assert any(s == 201 for s, _ in results)
    assert await _balance() == 49


async def test_seal_refusals_are_problems(api):
    cases = [
        (api.auth(), pdf_form(b"not a pdf at all", "x.pdf"), 422, "document_not_pdf"),
        (api.auth(), pdf_form(make_pdf(encrypt_password="s3cret")), 422, "document_encrypted"),
        (api.auth("collab"), pdf_form(make_pdf()), 403, "delegation_missing"),
    ]
    for headers, form, status, code in cases:
        async with api.session.post(api.url("/seals"), headers=headers, data=form) as r:
            body = await conforms(r, "/seals", "post")
            assert (r.status, body["code"]) == (status, code), body
    big, ctype = raw_multipart(b"%PDF-1.7\n" + b"0" * (api.svc.settings.max_document_bytes + 1))
    async with api.session.post(api.url("/seals"), headers=api.auth(**ctype),
                                data=io.BytesIO(big)) as r:
        body = await conforms(r, "/seals", "post")
        assert r.status == 413 and body["code"] == "document_too_large"
    async with api.session.post(api.url("/seals"), headers=api.auth(),
                                data={"note": "no file"}) as r:
        body = await conforms(r, "/seals", "post")
        assert r.status == 422 and body["code"] == "document_missing"
    assert await _balance() == 50


async def test_sealer_with_delegation_may_seal_and_no_credit_is_402(api):
    async with api.session.post(api.url("/seals"), headers=api.auth("sealer"),
                                data=pdf_form(make_pdf(text="delegated"))) as r:
        assert r.status == 201
    cabinet = await people.get_cabinet("beta")
    await billing.set_tariff(cabinet, "seal", 60)
    async with api.session.post(api.url("/seals"), headers=api.auth("beta"),
                                data=pdf_form(make_pdf())) as r:
        body = await conforms(r, "/seals", "post")
        assert r.status == 402 and body["code"] == "credit_insufficient"
    assert await _balance("beta") == 50
    async with api.session.get(api.url("/credit"), headers=api.auth("beta")) as r:
        body = await conforms(r, "/credit")
        assert body["available"] == 50 and body["tariffs"]["seal"] == 60


async def test_pdf_answer_is_replayed_from_the_store(api):
    pdf = make_pdf(text="replay pdf")
    headers = api.auth(**{"Idempotency-Key": "pdf-1", "Accept": "application/pdf"})
    bodies = []
    for _ in range(2):
        async with api.session.post(api.url("/seals"), headers=headers, data=pdf_form(pdf)) as r:
            assert r.status == 201 and r.content_type == "application/pdf"
            bodies.append(await r.read())
    assert bodies[0] == bodies[1] and bodies[0].startswith(b"%PDF")
    assert await _balance() == 49
    # The same key asking for JSON is another request: refused, not replayed as a PDF.
    async with api.session.post(api.url("/seals"), data=pdf_form(pdf),
                                headers=api.auth(**{"Idempotency-Key": "pdf-1"})) as r:
        assert r.status == 422


def _dead_holder() -> str:
    """The holder name of a process of this host that has ended (and was reaped)."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    return f"{socket.gethostname()[:64]}:{gone.pid}:0123456789ab"


async def _seal_with_key(api, pdf: bytes, key: str):
    async with api.session.post(api.url("/seals"), headers=api.auth(**{"Idempotency-Key": key}),
                                data=pdf_form(pdf)) as r:
        return r.status, await r.json(content_type=None), r.headers.get("Idempotent-Replayed")


async def test_a_claim_whose_process_is_gone_is_taken_over_and_billed_once(api):
    pdf = make_pdf(text="lease")
    status, first, _ = await _seal_with_key(api, pdf, "lease-1")
    assert status == 201
    # As a crash between the seal's commit and the stored answer leaves it.
    await ApiIdempotency.filter(key="lease-1").update(status=None, holder=_dead_holder())
    status, again, _ = await _seal_with_key(api, pdf, "lease-1")
    assert status == 201 and again == first
    status, replayed, flag = await _seal_with_key(api, pdf, "lease-1")
    assert (status, replayed, flag) == (201, first, "true")
    assert await LedgerEntry.filter(kind="debit").count() == 1 and await _balance() == 49


async def test_a_claim_held_elsewhere_waits_for_its_lease(api):
    pdf = make_pdf(text="lease elsewhere")
    status, first, _ = await _seal_with_key(api, pdf, "lease-2")
    assert status == 201
    await ApiIdempotency.filter(key="lease-2").update(
        status=None, holder="another-host:1:0123456789ab",
        claimed_until=clock.now() + idempotency.LEASE)
    status, body, _ = await _seal_with_key(api, pdf, "lease-2")
    assert status == 409 and body["code"] == "idempotency_key_in_progress"
    clock.fast_forward(seconds=idempotency.LEASE.total_seconds() + 1)
    status, again, _ = await _seal_with_key(api, pdf, "lease-2")
    assert status == 201 and again["sha256"] == first["sha256"]
    assert await LedgerEntry.filter(kind="debit").count() == 1 and await _balance() == 49
