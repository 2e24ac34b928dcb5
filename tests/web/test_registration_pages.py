"""The registration pages /r/<token> over HTTP on loopback: the whole path, each refusal with
its status, the certificate page and its revocation by code, then a signature refused."""

from __future__ import annotations

import io
import re

import aiohttp

from tests.identity_images import jpeg, png
from tests.registration import last_sms_code, ocsp_status, register, register_and_approve
from tests.web.signer_site import site  # noqa: F401 - fixture
from tests.workflows.collection_world import link_of, pdf, world_settings  # noqa: F401
from workflows import clock, collections, delegations, registration_links, registration_review
from workflows.actors import Actor
from workflows.collections import SignerSpec
from workflows.identity_files import MAX_BYTES
from workflows.models import (
    Certificate,
    EvidenceEvent,
    IdentityDocument,
    Notification,
    Registration,
)

OP = Actor.operator()


async def _link(site, person) -> str:
    return await registration_links.registration_link(site.world.svc.settings, person)


async def _get(site, url, **kw):
    r = await site.session.get(url, **kw)
    return r, await r.text()


async def _post(site, url, **form):
    return await site.session.post(url, data=form, allow_redirects=False)


async def _upload(site, url, name, data, content_type="application/octet-stream"):
    form = aiohttp.FormData()
    # A file object: aiohttp warns (an error here) on a large body given as bytes.
    form.add_field("file", io.BytesIO(data), filename=name, content_type=content_type)
    return await site.session.post(url, data=form, allow_redirects=False)


def _step(page: str) -> str:
    return re.search(r'data-step="([a-z_]+)"', page).group(1)


def _problem(page: str) -> str | None:
    found = re.search(r'id="problem" data-code="([a-z_]+)"', page)
    return found.group(1) if found else None


async def _ok(site, link, step, **form):
    r = await _post(site, f"{link}/{step}", **form)
    assert r.status == 303, (r.status, await r.text())
    assert r.headers["Location"].endswith(f"?done={step}")
    return await _get(site, site.base + r.headers["Location"])


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1000000:06d}"


async def test_whole_path_on_the_web_with_each_refusal(site):
    svc, anne = site.world.svc, site.world.expert
    link = await _link(site, anne)
    assert link.startswith(f"{site.base}/r/") and len(link.rsplit("/", 1)[1]) >= 40
    r, page = await _get(site, link)
    assert r.status == 200 and _step(page) == "start"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert r.headers["Cache-Control"] == "no-store"
    r, page = await _get(site, link + "?lang=en")
    assert "Your personal signing certificate" in page

    r, page = await _ok(site, link, "start")
    assert _step(page) == "identity"
    assert "Anne Dupré" in page and "expert@dupre.test" in page and "Cabinet Dupré" in page
    r, page = await _ok(site, link, "identity")
    assert _step(page) == "mobile"

    # The mobile, then a wrong code: the page says so with the tries left.
    r, page = await _ok(site, link, "mobile", phone="06 12 34 56 01")
    assert _step(page) == "mobile_code" and "+33612345601" in page and 'data-done="mobile"' in page
    code = await last_sms_code(svc, "+33612345601")
    r = await _post(site, f"{link}/mobile_code", code=_wrong(code))
    page = await r.text()
    assert r.status == 422 and _problem(page) == "otp_invalid" and "Il vous reste 4 essais" in page
    assert _step(page) == "mobile_code"
    # Reloading the address of the refused form goes back to the page.
    r = await site.session.get(f"{link}/mobile_code", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == link[len(site.base):]
    r, page = await _ok(site, link, "mobile_code", code=code)
    assert _step(page) == "document_type"
    r = await _post(site, f"{link}/document_type", document_type="birth_certificate")
    assert r.status == 422 and _problem(await r.text()) == "identity_document_type_invalid"
    r, page = await _ok(site, link, "document_type", document_type="id_card")
    assert _step(page) == "front" and 'enctype="multipart/form-data"' in page

    # Wrong file type (checked by content, whatever the name), greyscale, too small,
    # oversized, no file at all: each refused on the page with its status.
    r = await _upload(site, f"{link}/front", "carte.jpg", b"GIF89a" + b"\x00" * 40_000)
    page = await r.text()
    assert r.status == 415 and _problem(page) == "identity_document_format"
    assert ".jpg, .jpeg, .png ou .pdf" in page and _step(page) == "front"
    r = await _upload(site, f"{link}/front", "carte.png", png(colour=False))
    assert r.status == 422 and _problem(await r.text()) == "identity_document_greyscale"
    r = await _upload(site, f"{link}/front", "carte.png", png(size=5_000))
    assert r.status == 422 and _problem(await r.text()) == "identity_document_too_small"
    r = await _upload(site, f"{link}/front", "carte.pdf", b"%PDF-1.4\n" + b"0" * MAX_BYTES)
    page = await r.text()
    assert r.status == 413 and _problem(page) == "identity_document_too_large"
    assert "10 Mo" in page
    r = await _upload(site, f"{link}/front", "carte.pdf", b"%PDF-1.4\n" + b"0" * (MAX_BYTES * 2))
    assert r.status == 413 and _problem(await r.text()) == "identity_document_too_large"
    r = await _upload(site, f"{link}/front", "", b"")
    assert r.status == 422 and _problem(await r.text()) == "identity_document_missing"
    r = await _post(site, f"{link}/front", file="not a file")
    assert r.status == 422 and _problem(await r.text()) == "identity_document_missing"
    assert not await IdentityDocument.exists()

    r = await _upload(site, f"{link}/front", "recto.png", png(), "image/png")
    assert r.status == 303 and r.headers["Location"].endswith("?done=front")
    r, page = await _get(site, site.base + r.headers["Location"])
    assert _step(page) == "back" and "Recto reçu" in page
    # The back side is missing: the agreement cannot be signed yet.
    r = await _post(site, f"{link}/agreement")
    page = await r.text()
    assert r.status == 422 and _problem(page) == "identity_document_missing" and "verso" in page
    assert _step(page) == "back"
    r = await _upload(site, f"{link}/back", "verso.jpeg", jpeg(), "image/jpeg")
    assert r.status == 303
    # Leaving and coming back resumes at the next step.
    r, page = await _get(site, link)
    assert _step(page) == "agreement" and 'id="agreement"' in page
    r, page = await _ok(site, link, "agreement")
    assert _step(page) == "policies" and 'id="terms"' in page and 'id="privacy"' in page
    r, page = await _ok(site, link, "policies")
    assert _step(page) == "submit"
    r, page = await _ok(site, link, "submit")
    assert _step(page) == "review"
    reg = await Registration.get(person_id=anne.id)
    assert reg.state == "submitted" and reg.phone == "+33612345601"
    web_events = await EvidenceEvent.filter(person_id=anne.id, kind__startswith="registration.",
                                            channel="web")
    assert len(web_events) >= 9
    assert all(e.data["origin"]["ip"] == "127.0.0.1" for e in web_events)

    # The operator approves: the page says so; the certificate page shows its details.
    await registration_review.approve(svc, OP, reg.id)
    r, page = await _get(site, link)
    assert _step(page) == "done" and 'id="approved"' in page
    cert = await Certificate.get(person_id=anne.id, kind="personal")
    r, page = await _get(site, f"{link}/certificate")
    assert r.status == 200 and cert.serial in page and 'data-status="valid"' in page
    assert "Anne Dupré" in page and "valable" in page
    # Names in words, not dotted OIDs; the serial in groups of four that a phone can wrap.
    assert "Nom commun" in page and "Organisation" in page and "2.5.4." not in page
    assert re.search(r'id="serial"[^>]*>([0-9A-F]{4} )+', page), page
    r, page = await _get(site, f"{link}/certificate?lang=en")
    assert "Common name" in page and "Issuer" in page and "2.5.4." not in page

    # Revocation: a code by SMS to the checked mobile, a wrong code, then the right one.
    r = await _post(site, f"{link}/certificate/revoke")
    assert r.status == 303 and r.headers["Location"].endswith("/certificate?sent=sms")
    r, page = await _get(site, f"{link}/certificate?sent=sms")
    assert 'id="confirm-revoke"' in page and "par SMS" in page
    code = await last_sms_code(svc, "+33612345601")
    r = await _post(site, f"{link}/certificate/revoke/confirm", code=_wrong(code))
    page = await r.text()
    assert r.status == 422 and _problem(page) == "otp_invalid" and 'data-status="valid"' in page
    r = await site.session.get(f"{link}/certificate/revoke/confirm", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"].endswith("/certificate")
    assert await ocsp_status(svc.trust, cert) == "good"
    r = await _post(site, f"{link}/certificate/revoke/confirm", code=code)
    assert r.status == 303 and r.headers["Location"].endswith("/certificate?done=revoked")
    r, page = await _get(site, f"{link}/certificate?done=revoked")
    assert 'data-status="revoked"' in page and "révoqué le" in page
    assert await ocsp_status(svc.trust, cert) == "revoked"
    assert await Notification.exists(template="registrant/certificate_revoked")
    r = await _post(site, f"{link}/certificate/revoke")
    assert r.status == 410 and _problem(await r.text()) == "personal_certificate_revoked"
    # The registration page offers a new registration.
    r, page = await _get(site, link)
    assert _step(page) == "start" and "Recommencer" in page

    # Signing in her own name is now refused on her signer link, before any code.
    await collections.create_collection(
        svc, site.world.actor(anne), cabinet="dupre", documents=[("pv.pdf", pdf("PV"))],
        signers=[SignerSpec("Anne Dupré", "expert@dupre.test")])
    signer_link = await link_of("expert@dupre.test")
    r = await _post(site, f"{signer_link}/code", channel="mail")
    page = await r.text()
    assert r.status == 410 and 'data-code="personal_certificate_revoked"' in page
    assert not await Notification.exists(template="signer/code")


async def test_refused_review_shows_the_reason_and_starts_again(site):
    svc, anne = site.world.svc, site.world.expert
    progress = await register(svc, anne, document_type="passport")
    await registration_review.refuse(svc, OP, progress.registration.id, "photo illisible")
    link = await _link(site, anne)
    r, page = await _get(site, link)
    assert r.status == 200 and _step(page) == "start"
    assert "refusé" in page and "photo illisible" in page
    r, page = await _ok(site, link, "start")
    assert _step(page) == "identity"
    assert await Registration.filter(person_id=anne.id).count() == 2
    fresh = await Registration.filter(person_id=anne.id).order_by("-id").first()
    assert fresh.state == "in_progress"


async def test_duplicate_mobile_is_refused_with_the_way_out(site):
    svc, anne, lea = site.world.svc, site.world.expert, site.world.launcher
    await register_and_approve(svc, anne, phone="+33633333333")
    await delegations.grant(OP, lea, site.world.cabinet, "sign")
    link = await _link(site, lea)
    await _ok(site, link, "start")
    await _ok(site, link, "identity")
    r = await _post(site, f"{link}/mobile", phone="+33 6 33 33 33 33")
    page = await r.text()
    assert r.status == 409 and _problem(page) == "phone_already_bound"
    assert "révoquer" in page and _step(page) == "mobile"
    r = await _post(site, f"{link}/mobile", phone="12")
    assert r.status == 422 and _problem(await r.text()) == "phone_invalid"


async def test_bad_links_and_foreign_forms(site):
    w = site.world
    r, page = await _get(site, f"{site.base}/r/not-a-real-token-at-all")
    assert r.status == 404 and _problem(page) == "registration_link_invalid"
    r, _ = await _get(site, f"{site.base}/r/x")
    assert r.status == 404
    r = await _post(site, f"{site.base}/r/not-a-real-token-at-all/start")
    assert r.status == 404 and _problem(await r.text()) == "registration_link_invalid"
    # Someone who signs nothing in their own name has nothing to register.
    r, page = await _get(site, await _link(site, w.preparer))
    assert r.status == 409 and _problem(page) == "registration_not_needed"
    # A form posted from another site is refused; ours (or Origin: null) goes through.
    link = await _link(site, w.expert)
    r = await site.session.post(f"{link}/start", headers={"Origin": "https://evil.example"},
                                allow_redirects=False)
    assert r.status == 403 and _problem(await r.text()) == "cross_site_request"
    assert not await Registration.exists(person_id=w.expert.id)
    r = await site.session.post(f"{link}/start", headers={"Origin": "null"},
                                allow_redirects=False)
    assert r.status == 303
    # No certificate yet: the certificate page says how to get one.
    r, page = await _get(site, f"{link}/certificate", headers={"Accept-Language": "en"})
    assert r.status == 403 and _problem(page) == "personal_certificate_missing"
    # A form too large for a step without a file.
    r = await _post(site, f"{link}/identity", filler="x" * 20_000)
    assert r.status == 413
    # A link expires.
    clock.fast_forward(days=31)
    r, page = await _get(site, link)
    assert r.status == 410 and _problem(page) == "registration_link_expired"


async def test_the_link_reaches_the_person_by_mail(site):
    from paraphe.templating import render

    svc, anne = site.world.svc, site.world.expert
    url = await registration_links.send_registration_link(svc, Actor(anne.id, "telegram"), anne)
    mail = await Notification.get(template="registrant/registration_link")
    assert mail.recipient == "expert@dupre.test" and mail.context["link"] == url
    for lang in ("fr", "en"):
        text = render("mail/registrant/registration_link", lang, **mail.context)
        assert url in text and "30" in text
    r, page = await _get(site, url)
    assert r.status == 200 and _step(page) == "start"


async def test_member_told_to_register_on_a_signer_link_gets_the_link_by_mail(site):
    w = site.world
    await collections.create_collection(
        w.svc, w.actor(w.expert), cabinet="dupre", documents=[("pv.pdf", pdf())],
        signers=[SignerSpec("Anne Dupré", "expert@dupre.test")])
    signer_link = await link_of("expert@dupre.test")
    r = await _post(site, f"{signer_link}/code", channel="mail")
    page = await r.text()
    assert r.status == 403 and _problem(page) == "personal_certificate_missing"
    assert 'id="registration-link"' in page and "/register" in page
    r = await _post(site, f"{signer_link}/registration-link")
    assert r.status == 303 and r.headers["Location"].endswith("?sent=registration_link")
    r, page = await _get(site, site.base + r.headers["Location"])
    assert r.status == 200 and "lien d'enregistrement vient de vous être envoyé" in page
    mail = await Notification.get(template="registrant/registration_link")
    assert mail.recipient == "expert@dupre.test"
    # Asking again at once sends no second mail.
    r = await _post(site, f"{signer_link}/registration-link")
    assert r.status == 303
    assert await Notification.filter(template="registrant/registration_link").count() == 1
    r, page = await _get(site, mail.context["link"])
    assert r.status == 200 and _step(page) == "start" and "Anne Dupré" in page
    r = await _post(site, f"{site.base}/s/not-a-real-token-at-all/registration-link")
    assert r.status == 404
