"""The signer pages over HTTP on loopback: the whole flow, every bad state with its status."""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
from pathlib import Path

from tests.validators import assert_pdfsig_trusts, pdfsig_report, qpdf_check
from tests.web.signer_site import site  # noqa: F401 - fixture
from mail_gateway.delivery import render_mail
from tests.workflows.collection_world import (  # noqa: F401 - fixtures
    code_of,
    last_mail,
    link_of,
    pdf,
    world_settings,
)
from workflows import clock, collections, otp, sweeps
from workflows.actors import Actor
from workflows.collections import SignerSpec
from workflows.models import Collection, CollectionDocument, EvidenceEvent, Signer


async def _create(site, n=2, **kw):
    w = site.world
    return await collections.create_collection(
        w.svc, w.actor(w.expert), cabinet="dupre",
        documents=[("lettre-de-mission.pdf", pdf())],
        signers=[SignerSpec(f"Client {i}", f"c{i}@example.test") for i in range(1, n + 1)], **kw)


async def _post(site, url, **form):
    return await site.session.post(url, data=form, allow_redirects=False)


async def _sign_over_http(site, email, ua="pytest-browser"):
    link = await link_of(email)
    r = await site.session.post(link + "/code", data={"channel": "mail"}, allow_redirects=False,
                                headers={"User-Agent": ua})
    assert r.status == 303 and r.headers["Location"].endswith("?sent=mail")
    r = await site.session.post(link + "/sign", data={"code": await code_of(email),
                                                      "consent": "yes"},
                                allow_redirects=False, headers={"User-Agent": ua})
    assert r.status == 303, await r.text()
    return link


async def test_whole_flow_over_http_and_final_pdf_validates(site):
    collection = await _create(site)
    link = await link_of("c1@example.test")
    r = await site.session.get(link)
    assert r.status == 200
    text = await r.text()
    assert "lettre-de-mission.pdf" in text and 'id="send-mail"' in text
    assert r.headers["Referrer-Policy"] == "no-referrer"
    r = await site.session.get(link + "/documents/1")
    assert r.status == 200 and r.content_type == "application/pdf"
    # A wrong code: the page again, 422, with the tries left.
    await _post(site, link + "/code", channel="mail")
    code = await code_of("c1@example.test")
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    r = await _post(site, link + "/sign", code=wrong, consent="yes")
    assert r.status == 422 and "4 essais" in await r.text()
    r = await _post(site, link + "/sign", code=code)  # no consent
    assert r.status == 422 and 'data-code="consent_required"' in await r.text()
    r = await _post(site, link + "/sign", code=code, consent="yes")
    assert r.status == 303
    r = await site.session.get(link)
    assert r.status == 200 and 'id="signed"' in await r.text()
    r = await _post(site, link + "/sign", code=code, consent="yes")
    assert r.status == 409 and 'data-code="already_signed"' in await r.text()
    await _sign_over_http(site, "c2@example.test")
    fresh = await Collection.get(id=collection.id)
    assert fresh.state == "completed" and fresh.finalized_at is not None
    r = await site.session.get(link)
    page = await r.text()
    assert r.status == 200 and 'id="completed"' in page and "evidence.pdf" in page
    signed = await (await site.session.get(link + "/documents/1")).read()
    svc = site.world.svc
    # pyHanko: both signatures intact, trusted, B-LTA with the document timestamp.
    from workflows.pdf.verify import verify_pdf
    report = await verify_pdf(signed, trust_roots=svc.trust.trust_roots())
    assert report["ok"], report
    levels = [s.get("level") for s in report["signatures"]]
    assert levels.count("B-LTA") == 2, report
    # poppler's pdfsig trusting only the platform root, and qpdf.
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "signed.pdf"
        path.write_bytes(signed)
        entries = await pdfsig_report(path, svc.trust.root_pem())
        assert_pdfsig_trusts(entries, 2)
        await qpdf_check(path)
        # The evidence report: a sealed PDF and the JSON whose hashes match.
        report_pdf = await (await site.session.get(link + "/evidence.pdf")).read()
        rpath = Path(tmp) / "report.pdf"
        rpath.write_bytes(report_pdf)
        assert_pdfsig_trusts(await pdfsig_report(rpath, svc.trust.root_pem()), 1)
    raw = await (await site.session.get(link + "/evidence.json")).read()
    data = json.loads(raw)
    import hashlib
    sealed = await EvidenceEvent.get(collection_id=collection.id, kind="collection.report_sealed")
    assert sealed.data["json_sha256"] == hashlib.sha256(raw).hexdigest()
    assert data["documents"][0]["final_sha256"] == hashlib.sha256(signed).hexdigest()
    signs = [e for e in data["events"] if e["kind"] == "signer.signed"]
    assert len(signs) == 2
    assert all(e["data"]["origin"]["ip"] == "127.0.0.1" for e in signs)
    assert {e["data"]["origin"]["user_agent"] for e in signs} >= {"pytest-browser"}
    report_check = await verify_pdf(report_pdf, trust_roots=svc.trust.trust_roots())
    assert report_check["ok"]


async def test_bad_states_have_their_status(site):
    w = site.world
    r = await site.session.get(f"{site.base}/s/not-a-real-token-at-all")
    assert r.status == 404 and 'data-code="signer_link_invalid"' in await r.text()
    r = await site.session.get(f"{site.base}/s/x")
    assert r.status == 404
    # Not your turn yet (set order): 409.
    ordered = await _create(site, ordered=True)
    from workflows import links
    from workflows.models import Signer
    second = await Signer.get(collection_id=ordered.id, position=2)
    link2 = links.link_for(w.svc.settings, second.id, ordered.id)
    r = await site.session.get(link2)
    assert r.status == 409 and 'data-code="not_your_turn"' in await r.text()
    r = await _post(site, link2 + "/code", channel="mail")
    assert r.status == 409
    # Rate limit: 429 with Retry-After.
    link1 = await link_of("c1@example.test")
    assert (await _post(site, link1 + "/code", channel="mail")).status == 303
    r = await _post(site, link1 + "/code", channel="mail")
    assert r.status == 429 and int(r.headers["Retry-After"]) > 0
    # Cancelled: 410 saying so.
    await collections.cancel_collection(w.svc, w.actor(w.expert), ordered.id)
    r = await site.session.get(link1)
    assert r.status == 410 and "annulée" in await r.text()


async def test_decline_and_expiry_pages(site):
    w = site.world
    await _create(site, n=2)
    link1 = await link_of("c1@example.test")
    r = await _post(site, link1 + "/decline", reason="")
    assert r.status == 422
    r = await _post(site, link1 + "/decline", reason="Montant erroné")
    assert r.status == 303
    # A confirmation, not an error: the refusal and its reason, and a mail saying so.
    r = await site.session.get(link1)
    page = await r.text()
    assert r.status == 200 and 'id="declined" role="status"' in page
    assert "Votre refus de signer est enregistré, avec ce motif : Montant erroné" in page
    assert 'id="decline"' not in page and 'id="send-mail"' not in page
    assert 'class="card problem"' not in page
    mine = await last_mail("c1@example.test", "signer/ended")
    subject, body = render_mail("mail/signer/ended", "fr", {**mine.context, "thread": {}})
    assert subject.startswith("Votre refus de signer est enregistré")
    assert "avec ce motif : Montant erroné" in body
    other = await last_mail("c2@example.test", "signer/ended")
    assert render_mail("mail/signer/ended", "fr", {**other.context, "thread": {}})[0] \
        .startswith("Demande de signature close")
    r = await site.session.get(await link_of("c2@example.test"), headers={"Accept-Language": "en"})
    assert r.status == 410 and "declined" in await r.text()
    # Expiry, the clock moved.
    await collections.create_collection(
        w.svc, w.actor(w.expert), cabinet="dupre", documents=[("b.pdf", pdf("B"))],
        signers=[SignerSpec("Late", "late@example.test")], expiry_days=2)
    clock.fast_forward(days=2, minutes=1)
    assert await sweeps.expire_due(w.svc) == 1
    r = await site.session.get(await link_of("late@example.test") + "?lang=en")
    assert r.status == 410 and "expired" in await r.text()
    r = await _post(site, await link_of("late@example.test") + "/code", channel="mail")
    assert r.status == 410


async def test_sequential_over_http(site):
    collection = await _create(site, n=2, ordered=True)
    await _sign_over_http(site, "c1@example.test")
    await _sign_over_http(site, "c2@example.test")
    assert (await Collection.get(id=collection.id)).state == "completed"


async def test_each_signature_is_b_lt_as_soon_as_it_is_made(site):
    """Whatever the collection's size, a signature's validation data (answers made after its
    timestamp) is in the DSS the moment it is made; at completion a document timestamp makes
    every one B-LTA, and pdfsig trusts them all."""
    from workflows.pdf.verify import verify_pdf

    collection = await _create(site, n=3)
    svc = site.world.svc
    await _sign_over_http(site, "c1@example.test")
    row = await CollectionDocument.get(collection_id=collection.id).select_related("current")
    partial = await svc.documents.read(row.current.sha256)
    report = await verify_pdf(partial, trust_roots=svc.trust.trust_roots())
    assert report["ok"], report
    assert [s.get("level") for s in report["signatures"]] == ["B-LT"], report
    for i in (2, 3):
        link = await _sign_over_http(site, f"c{i}@example.test")
    assert (await Collection.get(id=collection.id)).finalized_at is not None
    signed = await (await site.session.get(link + "/documents/1")).read()
    report = await verify_pdf(signed, trust_roots=svc.trust.trust_roots())
    assert report["ok"], report
    assert [s.get("level") for s in report["signatures"]].count("B-LTA") == 3, report
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "signed.pdf"
        path.write_bytes(signed)
        assert_pdfsig_trusts(await pdfsig_report(path, svc.trust.root_pem()), 3)


async def test_code_errors_over_http(site):
    """Locked after five wrong codes (403), expired (410), SMS without a mobile (422)."""
    await _create(site, n=1)
    link = await link_of("c1@example.test")
    r = await _post(site, link + "/code", channel="sms")
    assert r.status == 422 and 'data-code="sms_unavailable"' in await r.text()
    assert (await _post(site, link + "/code", channel="mail")).status == 303
    code = await code_of("c1@example.test")
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    statuses = [(await _post(site, link + "/sign", code=wrong, consent="yes")).status
                for _ in range(5)]
    assert statuses == [422, 422, 422, 422, 403]
    r = await _post(site, link + "/sign", code=code, consent="yes")
    assert r.status == 403 and 'data-code="otp_locked"' in await r.text()
    clock.fast_forward(seconds=31)
    assert (await _post(site, link + "/code", channel="mail")).status == 303
    clock.fast_forward(minutes=11)
    r = await _post(site, link + "/sign", code=await code_of("c1@example.test"), consent="yes")
    assert r.status == 410 and 'data-code="otp_expired"' in await r.text()


async def test_unregistered_member_signing_in_own_name_is_told_to_register(site):
    w = site.world
    collection = await collections.create_collection(
        w.svc, w.actor(w.expert), cabinet="dupre", documents=[("pv.pdf", pdf())],
        signers=[SignerSpec("Anne Dupré", "expert@dupre.test")])
    link = await link_of("expert@dupre.test")
    r = await _post(site, link + "/code", channel="mail")
    assert r.status == 403
    assert "/register" in await r.text()
    assert (await Collection.get(id=collection.id)).state == "in_progress"


async def test_a_member_whose_registration_waits_for_review_is_told_before_any_code(site):
    from tests.registration import register

    w = site.world
    await collections.create_collection(
        w.svc, w.actor(w.expert), cabinet="dupre", documents=[("pv.pdf", pdf())],
        signers=[SignerSpec("Anne Dupré", "expert@dupre.test")])
    link = await link_of("expert@dupre.test")
    assert 'id="registration-waiting"' not in await (await site.session.get(link)).text()
    await register(w.svc, w.expert)  # Submitted: waiting for the operator.
    page = await (await site.session.get(link)).text()
    assert 'id="registration-waiting" role="status"' in page
    assert "Votre enregistrement est en cours de vérification" in page
    assert 'id="send-mail"' not in page and 'id="decline"' not in page
    # The core refuses a code all the same, whatever a page shows.
    assert (await _post(site, link + "/code", channel="mail")).status == 403


async def test_evidence_json_is_the_same_bytes_everywhere(site, tmp_path):
    from tests.conftest import require_tool
    from workflows import apikeys

    for tool in ("pdftotext", "openssl"):
        require_tool(tool)
    collection = await _create(site)
    link = await _sign_over_http(site, "c1@example.test")
    await _sign_over_http(site, "c2@example.test")
    page = await (await site.session.get(link)).text()
    assert "evidence.p7s" in page
    raw = await (await site.session.get(link + "/evidence.json")).read()
    p7s = await (await site.session.get(link + "/evidence.p7s")).read()
    report_pdf = await (await site.session.get(link + "/evidence.pdf")).read()
    key = await apikeys.create_key(Actor.operator(), cabinet="dupre", email="expert@dupre.test",
                                   name="erp", scopes=["read"])
    api = f"{site.base}/api/v1/collections/{collection.id}"
    auth = {"Authorization": f"Bearer {key.token}"}
    async with site.session.get(f"{api}/evidence", headers=auth) as r:
        assert r.status == 200 and await r.read() == raw
    async with site.session.get(f"{api}/evidence.p7s", headers=auth) as r:
        assert r.status == 200 and r.content_type == "application/pkcs7-signature"
        assert await r.read() == p7s
    # The SHA-256 printed in the certificate is that of the bytes every channel serves.
    (tmp_path / "preuve.pdf").write_bytes(report_pdf)
    proc = await asyncio.create_subprocess_exec(
        "pdftotext", "-layout", str(tmp_path / "preuve.pdf"), "-", stdout=asyncio.subprocess.PIPE)
    text = (await proc.communicate())[0].decode()
    assert hashlib.sha256(raw).hexdigest() in text
    # English on request: the same JSON bytes attached, and its SHA-256 printed; kept once made.
    english = []
    for url, headers in ((f"{api}/evidence?lang=en", {**auth, "Accept": "application/pdf"}),
                         (link + "/evidence.pdf?lang=en", {})):
        async with site.session.get(url, headers=headers) as r:
            assert r.status == 200 and r.content_type == "application/pdf"
            english.append(await r.read())
    assert english[0] == english[1] != report_pdf
    (tmp_path / "en.pdf").write_bytes(english[0])
    proc = await asyncio.create_subprocess_exec(
        "pdftotext", str(tmp_path / "en.pdf"), "-", stdout=asyncio.subprocess.PIPE)
    text_en = " ".join((await proc.communicate())[0].decode().split())
    assert "Certificate of evidence" in text_en and hashlib.sha256(raw).hexdigest() in text_en
    from workflows.pdf.verify import verify_pdf
    checked = await verify_pdf(english[0], trust_roots=site.world.svc.trust.trust_roots())
    assert checked["ok"], checked
    # The .p7s is a detached CMS signature over exactly those bytes, by the platform's chain.
    (tmp_path / "preuve.json").write_bytes(raw)
    (tmp_path / "preuve.p7s").write_bytes(p7s)
    (tmp_path / "root.pem").write_text(site.world.svc.trust.root_pem())
    proc = await asyncio.create_subprocess_exec(
        "openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in",
        str(tmp_path / "preuve.p7s"), "-content", str(tmp_path / "preuve.json"),
        "-CAfile", str(tmp_path / "root.pem"), "-purpose", "any", "-out", "/dev/null",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    (tmp_path / "preuve.json").write_bytes(raw.replace(b"Client 1", b"Client 9"))
    proc = await asyncio.create_subprocess_exec(
        "openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in",
        str(tmp_path / "preuve.p7s"), "-content", str(tmp_path / "preuve.json"),
        "-CAfile", str(tmp_path / "root.pem"), "-purpose", "any", "-out", "/dev/null",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    await proc.communicate()
    assert proc.returncode != 0


async def test_a_burst_of_guesses_gets_five_comparisons_and_one_answer_after(site, monkeypatch):
    """40 concurrent wrong codes and the right one: at most five are compared, and every
    answer after the limit is the same page, whatever the guess."""
    await _create(site, n=1)
    link = await link_of("c1@example.test")
    assert (await _post(site, link + "/code", channel="mail")).status == 303
    code = await code_of("c1@example.test")
    compared = []
    real = otp.matches

    def counting(typed, digest_of, expected):
        compared.append(typed)
        return real(typed, digest_of, expected)

    monkeypatch.setattr(otp, "matches", counting)
    guesses = [f"{(int(code) + k) % 1000000:06d}" for k in range(1, 41)] + [code]

    async def answer(guess):
        r = await _post(site, link + "/sign", code=guess, consent="yes")
        return r.status, await r.text()

    answers = await asyncio.gather(*(answer(g) for g in guesses))
    assert len(compared) <= 5
    signer = await Signer.get(email="c1@example.test")
    assert (signer.state == "signed") == (code in compared)
    if code in compared:
        return  # The scheduler let the right guess in among the five: it signed, as it should.
    after = {answers[i] for i, g in enumerate(guesses) if g not in compared}
    assert len(after) == 1
    status, text = after.pop()
    assert status == 403 and 'data-code="otp_locked"' in text
    # The right code, once the tries are gone, is answered like any wrong one.
    r = await _post(site, link + "/sign", code=code, consent="yes")
    assert (r.status, await r.text()) == (status, text)
