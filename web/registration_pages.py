"""Registration pages `/r/<token>`: the person's registration step by step (the same core
flow as /register in the bot) and their personal certificate, with its revocation by code.

GET `/r/<token>` shows the current step (`registration.progress`) and its form; each form
posts to `/r/<token>/<step>`, which makes the one core call of that step and redirects back
(POST-redirect-GET), so the page then shows the next step; a refused form shows the same
step again with the reason and the status of the error (web/errors.py). The token in the
URL is the only credential (no cookie): another site cannot know it, and a form posted
with another site's Origin is refused. Identity documents are read as a multipart stream
and refused as soon as they pass the size limit, before the rest is read.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from aiohttp import web

from paraphe.templating import render_html
from web import forms
from web.errors import (
    PAGE_HEADERS,
    CrossSiteRequestError,
    error_page,
    headers_for,
    language_of,
    status_of,
)
from workflows import identity_files, personal_certificates, registration, registration_links
from workflows.errors import (
    IdentityDocumentMissingError,
    ParapheError,
    PersonalCertificateMissingError,
    RegistrationLinkInvalidError,
)
from workflows.models import Person
from workflows.models.registration import DOCUMENT_TYPES
from workflows.services import Services


SERVICES = web.AppKey("registration_services", object)
TOKEN = r"{token:[A-Za-z0-9_-]{16,128}}"
MAX_FORM = 16 * 1024
# Room for the multipart boundaries and headers on top of the file itself.
UPLOAD_SLACK = 64 * 1024
CHUNK = 64 * 1024
ERROR_PAGE = "web/registration/error"
FORM_STEPS = ("start", "name", "siren", "identity", "mobile", "mobile_code", "document_type",
              "agreement", "policies", "submit")
UPLOAD_STEPS = ("front", "back")


def _base(token: str) -> str:
    return f"/r/{token}"


def _actor(request: web.Request, person: Person):
    return registration_links.web_actor(person, ip=request.remote,
                                        user_agent=request.headers.get("User-Agent"))


def _html(text: str, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/html",
                        headers=headers or PAGE_HEADERS)


def _check_origin(request: web.Request) -> None:
    """Refuses a form posted from another site. Browsers send `Origin: null` under our
    no-referrer policy; a real origin must be ours (the public URL or the Host asked)."""
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return
    public = urlsplit(request.app[SERVICES].settings.public_url)
    allowed = {f"{public.scheme}://{public.netloc}", f"{request.scheme}://{request.host}"}
    if origin not in allowed:
        raise CrossSiteRequestError("this form was posted from another site")


async def _form(request: web.Request):
    return await forms.read_form(request, MAX_FORM)


async def _upload(request: web.Request, side: str) -> tuple[str, bytes]:
    """The `file` field of a multipart form, read chunk by chunk up to the size limit.

    Raises IdentityDocumentTooLargeError as soon as the limit is passed (or at once when the
    announced length is over it), IdentityDocumentMissingError when no file was chosen.
    """
    limit = identity_files.MAX_BYTES
    if request.content_length and request.content_length > limit + UPLOAD_SLACK:
        identity_files.check_size(request.content_length - UPLOAD_SLACK)
    if not request.content_type.startswith("multipart/"):
        raise IdentityDocumentMissingError("choose the file to send", side=side)
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if getattr(part, "name", None) != "file":
            await part.release()
            continue
        data = bytearray()
        while chunk := await part.read_chunk(CHUNK):
            data += chunk
            if len(data) > limit:
                identity_files.check_size(len(data))
        if not data and not part.filename:
            break
        return part.filename or "", bytes(data)
    raise IdentityDocumentMissingError("choose the file to send", side=side)


async def _person(request: web.Request) -> Person:
    return await registration_links.person_for(request.match_info["token"])


# --- the registration page ------------------------------------------------------------------

async def _context(request: web.Request, person: Person, token: str, lang: str) -> dict:
    prog, step = await registration.current_step(request.app[SERVICES], _actor(request, person))
    cert = await personal_certificates.certificate_details(person) if step == "done" else None
    reg = prog.registration if prog is not None else None
    ctx = {
        "lang": lang, "base": _base(token), "step": step, "name": person.name,
        "identity": await registration.identity_of(person), "reg": reg,
        "sides": prog.sides if prog else (), "needed_sides": prog.needed_sides if prog else (),
        "previous": prog.step if prog is not None and step == "start" else None,
        "certificate": cert, "document_types": DOCUMENT_TYPES,
        "max_mb": identity_files.MAX_BYTES // (1024 * 1024),
        "done": request.query.get("done") if request.query.get("done") in (
            FORM_STEPS + UPLOAD_STEPS) else None,
        "problem": None, "agreement": None, "texts": None,
        "cabinet": await registration.cabinet_asking_siren(person.id) if step == "siren"
        else None,
    }
    templates = request.app[SERVICES].templates
    if step == "agreement":
        ctx["agreement"] = registration.agreement_text(templates, person.language)[0]
    if step == "policies":
        texts = registration.policy_texts(templates, request.app[SERVICES].settings,
                                               person.language)
        ctx["texts"] = {k: v[0] for k, v in texts.items()}
    return ctx


async def _page(request: web.Request, *, problem: ParapheError | None = None
                ) -> web.Response:
    token = request.match_info["token"]
    try:
        person = await _person(request)
    except ParapheError as exc:
        return error_page(request, exc, template=ERROR_PAGE)
    lang = language_of(request, person.language)
    try:
        ctx = await _context(request, person, token, lang)
    except ParapheError as exc:
        return error_page(request, exc, language=person.language, template=ERROR_PAGE)
    status, headers = 200, PAGE_HEADERS
    if problem is not None:
        ctx["problem"] = {"code": problem.code, "details": problem.details}
        status, headers = status_of(problem), headers_for(problem)
    return _html(render_html("web/registration/page", lang, **ctx), status, headers)


async def page(request: web.Request) -> web.Response:
    return await _page(request)


async def _do(request: web.Request, step: str, person: Person) -> None:
    svc, actor = request.app[SERVICES], _actor(request, person)
    if step in UPLOAD_STEPS:
        filename, data = await _upload(request, step)
        await registration.add_document(svc, actor, step, filename, data)
        return
    form = await _form(request)
    if step == "start":
        await registration.start_or_resume(svc, actor)
    elif step == "name":
        await registration.give_full_name(svc, actor, str(form.get("name", "")))
    elif step == "siren":
        await registration.give_cabinet_siren(svc, actor, str(form.get("siren", "")))
    elif step == "identity":
        await registration.confirm_identity(svc, actor)
    elif step == "mobile":
        await registration.set_mobile(svc, actor, str(form.get("phone", "")))
    elif step == "mobile_code":
        await registration.verify_mobile(svc, actor, str(form.get("code", "")))
    elif step == "document_type":
        await registration.choose_document_type(svc, actor, str(form.get("document_type", "")))
    elif step == "agreement":
        await registration.sign_agreement(svc, actor)
    elif step == "policies":
        await registration.accept_policies(svc, actor)
    elif step == "submit":
        await registration.submit(svc, actor)


async def post_step(request: web.Request) -> web.Response:
    token, name = request.match_info["token"], request.match_info["step"]
    try:
        _check_origin(request)
        person = await _person(request)
    except ParapheError as exc:
        return error_page(request, exc, template=ERROR_PAGE)
    try:
        await _do(request, name, person)
    except ParapheError as exc:
        return await _page(request, problem=exc)
    raise web.HTTPSeeOther(f"{_base(token)}?done={name}")


# --- the certificate page -------------------------------------------------------------------

async def _certificate_page(request: web.Request, *, problem: ParapheError | None = None
                            ) -> web.Response:
    token = request.match_info["token"]
    try:
        person = await _person(request)
    except ParapheError as exc:
        return error_page(request, exc, template=ERROR_PAGE)
    lang = language_of(request, person.language)
    status, headers = 200, PAGE_HEADERS
    try:
        cert = await personal_certificates.certificate_details(person)
    except PersonalCertificateMissingError as exc:
        cert, problem = None, problem or exc
    sent = request.query.get("sent")
    ctx = {
        "lang": lang, "base": _base(token), "name": person.name, "certificate": cert,
        "sent": sent if sent in ("sms", "mail") else None,
        "revoked": request.query.get("done") == "revoked",
        "pending": await personal_certificates.revocation_pending(person.id),
        "problem": None,
    }
    if problem is not None:
        ctx["problem"] = {"code": problem.code, "details": problem.details}
        status, headers = status_of(problem), headers_for(problem)
    return _html(render_html("web/registration/certificate", lang, **ctx), status, headers)


async def certificate(request: web.Request) -> web.Response:
    return await _certificate_page(request)


async def _certificate_action(request: web.Request, action: str) -> web.Response:
    token = request.match_info["token"]
    try:
        _check_origin(request)
        person = await _person(request)
    except ParapheError as exc:
        return error_page(request, exc, template=ERROR_PAGE)
    svc, actor = request.app[SERVICES], _actor(request, person)
    try:
        form = await _form(request)
        if action == "revoke":
            channel = await personal_certificates.request_revocation(svc, actor)
            query = f"sent={quote(channel)}"
        else:
            await personal_certificates.confirm_revocation(svc, actor, str(form.get("code", "")))
            query = "done=revoked"
    except ParapheError as exc:
        return await _certificate_page(request, problem=exc)
    raise web.HTTPSeeOther(f"{_base(token)}/certificate?{query}")


async def revoke(request: web.Request) -> web.Response:
    return await _certificate_action(request, "revoke")


async def confirm_revoke(request: web.Request) -> web.Response:
    return await _certificate_action(request, "confirm")


async def back_to_page(request: web.Request) -> web.Response:
    """A GET of a form's address (a reload after a refused form): the page it belongs to."""
    token = request.match_info["token"]
    suffix = "/certificate" if request.path.startswith(f"{_base(token)}/certificate") else ""
    raise web.HTTPSeeOther(f"{_base(token)}{suffix}")


async def unknown(request: web.Request) -> web.Response:
    return error_page(request, RegistrationLinkInvalidError("this registration link is not valid"),
                      template=ERROR_PAGE)


def add_routes(app: web.Application, svc: Services) -> None:
    app[SERVICES] = svc
    steps = "|".join(FORM_STEPS + UPLOAD_STEPS)
    app.router.add_get(f"/r/{TOKEN}", page)
    app.router.add_get(f"/r/{TOKEN}/certificate", certificate)
    app.router.add_post(f"/r/{TOKEN}/certificate/revoke", revoke)
    app.router.add_post(f"/r/{TOKEN}/certificate/revoke/confirm", confirm_revoke)
    app.router.add_post(f"/r/{TOKEN}/{{step:(?:{steps})}}", post_step)
    app.router.add_get(f"/r/{TOKEN}/{{step:(?:{steps})}}", back_to_page)
    app.router.add_get(f"/r/{TOKEN}/certificate/{{action:revoke(?:/confirm)?}}", back_to_page)
    app.router.add_get("/r/{rest:.*}", unknown)
