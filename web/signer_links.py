"""Signer pages `/s/<token>`: the documents, a code by mail or SMS, consent, sign or decline, the
signed copy.

Handlers translate HTTP to the core's signer calls and its errors to pages (web/errors.py);
nothing here decides a business rule.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from paraphe.templating import render_html
from web import forms
from web.errors import PAGE_HEADERS, error_page, headers_for, language_of, status_of
from workflows import collections
from workflows.errors import DocumentNotFoundError, ParapheError, SignerLinkInvalidError
from workflows.services import Services


SERVICES = web.AppKey("signer_services", object)
TOKEN = r"{token:[A-Za-z0-9_-]{16,64}}"
MAX_FORM = 16 * 1024


def _client(request: web.Request) -> tuple[str | None, str | None]:
    return request.remote, request.headers.get("User-Agent")


def _base(token: str) -> str:
    return f"/s/{token}"


async def _context(request: web.Request, view, token: str, lang: str) -> dict:
    c = view.collection
    base = _base(token)
    completed = view.signed_copy
    docs = [{"filename": d.filename, "sha256": view.served(d).document.sha256,
             "url": f"{base}/documents/{d.position}"} for d in view.documents]
    signed_count = view.signed_count
    return {
        "lang": lang, "base": base, "title": c.title, "message": c.message,
        "collection_id": c.id, "cabinet_name": view.cabinet.name,
        "initiator": view.initiator.name, "signer_name": view.signer.name,
        "documents": docs, "completed": completed,
        "signed": view.signer.state == "signed", "can_sign": view.can_sign,
        "declined": view.signer.state == "declined",
        "registration_waiting": view.registration_waiting,
        "decline_reason": view.signer.decline_reason,
        "has_phone": bool(view.signer.phone), "signed_count": signed_count,
        "sms_delayed": view.sms_delayed,
        "signer_count": view.signer_count,
        "expires_at": c.expires_at,
        "report_url": f"{base}/evidence.pdf" if completed else None,
        "report_json_url": f"{base}/evidence.json" if completed else None,
        "report_p7s_url": f"{base}/evidence.p7s" if completed else None,
        "sent": request.query.get("sent") if request.query.get("sent") in (
            "mail", "sms", "registration_link") else None,
        "problem": None,
    }


async def _page(request: web.Request, token: str, *, problem: ParapheError | None = None,
                opened: bool = False) -> web.Response:
    try:
        view = await collections.signer_view(token)
        if opened:
            ip, agent = _client(request)
            await collections.note_opened(view, ip=ip, user_agent=agent)
    except ParapheError as exc:
        return error_page(request, exc)
    # A member's language is known; for a client, their browser's says more than our default.
    known = view.signer.language if view.signer.person_id else None
    lang = language_of(request, known)
    blocking = view.page_error
    if blocking is not None:
        return error_page(request, blocking, language=known)
    ctx = await _context(request, view, token, lang)
    status, headers = 200, PAGE_HEADERS
    if problem is not None:
        ctx["problem"] = {"code": problem.code, "details": problem.details}
        status, headers = status_of(problem), headers_for(problem)
    return web.Response(status=status, text=render_html("web/signer/page", lang, **ctx),
                        content_type="text/html", headers=headers)


async def page(request: web.Request) -> web.Response:
    return await _page(request, request.match_info["token"], opened=True)


async def _form(request: web.Request):
    return await forms.read_form(request, MAX_FORM)


def _after(token: str, **query) -> web.HTTPSeeOther:
    suffix = "&".join(f"{k}={quote(str(v))}" for k, v in query.items())
    return web.HTTPSeeOther(f"{_base(token)}{'?' + suffix if suffix else ''}")


async def send_code(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    form = await _form(request)
    channel = form.get("channel", "mail")
    ip, agent = _client(request)
    try:
        used = await collections.send_code(request.app[SERVICES], token, channel, ip=ip,
                                           user_agent=agent)
    except ParapheError as exc:
        return await _problem(request, token, exc)
    raise _after(token, sent=used)


async def sign(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    ip, agent = _client(request)
    try:
        form = await _form(request)
        await collections.sign_with_code(
            request.app[SERVICES], token, str(form.get("code", "")),
            consent=form.get("consent") in ("yes", "on", "1", "true"), ip=ip, user_agent=agent,
            language=str(form.get("lang", "")))
    except ParapheError as exc:
        return await _problem(request, token, exc)
    raise _after(token)


async def decline(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    ip, agent = _client(request)
    try:
        form = await _form(request)
        await collections.decline(request.app[SERVICES], token, str(form.get("reason", "")),
                                  ip=ip, user_agent=agent)
    except ParapheError as exc:
        return await _problem(request, token, exc)
    raise _after(token)


async def _problem(request: web.Request, token: str, exc: ParapheError) -> web.Response:
    """A refused form: the page again with the reason when the signer can still act,
    else the page of the state they are in."""
    if exc.kind in ("invalid", "gone", "forbidden", "rate_limited") and exc.code.startswith(
            ("otp_", "consent_", "reason_", "sms_", "personal_certificate_", "text_")):
        return await _page(request, token, problem=exc)
    return error_page(request, exc)


async def registration_link(request: web.Request) -> web.Response:
    """A member told to register before signing gets their registration link by mail."""
    from workflows import registration_links

    token = request.match_info["token"]
    await _form(request)
    ip, agent = _client(request)
    try:
        await registration_links.send_to_signer(request.app[SERVICES], token, ip=ip,
                                                user_agent=agent)
    except ParapheError as exc:
        return error_page(request, exc)
    raise _after(token, sent="registration_link")


async def document(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    try:
        view = await collections.signer_view(token)
        position = int(request.match_info["position"])
        row = next((d for d in view.documents if d.position == position), None)
        if row is None:
            raise DocumentNotFoundError("no such document")
        shown = view.served(row)
        data = await request.app[SERVICES].documents.read(shown.document.sha256)
    except ParapheError as exc:
        return error_page(request, exc)
    return web.Response(body=data, content_type="application/pdf", headers={
        **PAGE_HEADERS,
        "Content-Disposition": f"inline; filename*=UTF-8''{quote(shown.filename)}",
        "X-Document-Sha256": shown.document.sha256})


async def _report(request: web.Request, kind: str) -> web.Response:
    token = request.match_info["token"]
    try:
        view = await collections.signer_view(token)
        if not view.signed_copy:
            raise DocumentNotFoundError("the evidence report exists once everyone has signed")
        # The certificate in the page's language (the JSON is the same bytes in both).
        known = view.signer.language if view.signer.person_id else None
        report = await collections.evidence_report(request.app[SERVICES], view.collection.id,
                                                   language_of(request, known))
    except ParapheError as exc:
        return error_page(request, exc)
    if kind == "pdf":
        return web.Response(body=report.pdf, content_type="application/pdf", headers={
            **PAGE_HEADERS, "X-Document-Sha256": report.pdf_sha256})
    if kind == "p7s":
        if not report.json_signature:
            return error_page(request, DocumentNotFoundError("no signature of this report"))
        return web.Response(body=report.json_signature,
                            content_type="application/pkcs7-signature", headers={
                                **PAGE_HEADERS, "Content-Disposition":
                                f"attachment; filename=preuve-{view.collection.id}.json.p7s"})
    return web.Response(body=report.json, content_type="application/json", headers={
        **PAGE_HEADERS, "X-Document-Sha256": report.json_sha256})


async def report_pdf(request: web.Request) -> web.Response:
    return await _report(request, "pdf")


async def report_json(request: web.Request) -> web.Response:
    return await _report(request, "json")


async def report_p7s(request: web.Request) -> web.Response:
    return await _report(request, "p7s")


async def unknown(request: web.Request) -> web.Response:
    return error_page(request, SignerLinkInvalidError("this signature link is not valid"))


def add_routes(app: web.Application, svc: Services) -> None:
    app[SERVICES] = svc
    app.router.add_get(f"/s/{TOKEN}", page)
    app.router.add_post(f"/s/{TOKEN}/code", send_code)
    app.router.add_post(f"/s/{TOKEN}/sign", sign)
    app.router.add_post(f"/s/{TOKEN}/decline", decline)
    app.router.add_post(f"/s/{TOKEN}/registration-link", registration_link)
    app.router.add_get(f"/s/{TOKEN}/documents/{{position:[0-9]{{1,4}}}}", document)
    app.router.add_get(f"/s/{TOKEN}/evidence.pdf", report_pdf)
    app.router.add_get(f"/s/{TOKEN}/evidence.json", report_json)
    app.router.add_get(f"/s/{TOKEN}/evidence.p7s", report_p7s)
    app.router.add_get("/s/{rest:.*}", unknown)
