"""The member's pages: their cabinets, and per cabinet what their role shows.

An expert sees and manages the members and their delegations, the terms in force, the
credit, the API keys and every collection; a collaborator sees what their delegations
allow and the collections they started. Each page and each form calls the core: the
expert-only pages ask `people.require_expert`, each action the use case every other
channel calls (which checks the actor's rights again); no rule lives here.
"""

from __future__ import annotations

from aiohttp import web

from web.cabinet import render
from web.cabinet.signin import actor, required
from workflows import apikeys, billing, delegations, people, seal_history, terms, webhooks
from workflows.errors import NotAMemberError, ParapheError
from workflows.models import LedgerEntry, Membership
from workflows.models.apikeys import SCOPES
from workflows.models.people import ACTIONS
from workflows.services import Services
from workflows.webhook_secrets import SecretBox
from workflows.webhook_targets import WebhookTargets

SERVICES = web.AppKey("cabinet_pages_services", object)
SLUG = "{slug:[a-z0-9][a-z0-9-]{1,62}}"
LEDGER_ROWS = 50
# The sections every member opens; the others are the expert's.
MEMBER_SECTIONS = ("overview", "seals")
DONE = ("invited", "removed", "granted", "revoked", "accepted", "key_revoked",
        "webhook_removed")


def _svc(request: web.Request) -> Services:
    return request.app[SERVICES]


async def home(request: web.Request) -> web.Response:
    current = await required(request)
    memberships = await people.memberships_of(current.person)
    return await render.page(request, "home", memberships=memberships,
                             rights=await delegations.rights_of(current.person))


async def _membership(request: web.Request) -> tuple[object, Membership]:
    """The session and the member's membership of the cabinet in the URL (NotAMemberError
    for a cabinet they do not belong to, CabinetNotFoundError for none)."""
    current = await required(request)
    return current, await people.acting_membership(current.person_id, request.match_info["slug"])


async def _context(request: web.Request, section: str, **extra) -> web.Response:
    current, membership = await _membership(request)
    if section not in MEMBER_SECTIONS:
        await people.require_expert(actor(request, current), membership.cabinet)
    cabinet, svc = membership.cabinet, _svc(request)
    ctx = {"cabinet": cabinet, "membership": membership, "section": section,
           "rights": (await delegations.rights_of(current.person)).get(cabinet.slug, []),
           "terms": (await terms.status(svc.settings, [cabinet]))[0],
           "done": request.query.get("done") if request.query.get("done") in DONE else None,
           "actions": ACTIONS, "scopes": SCOPES}
    if section == "members":
        ctx["members"] = await people.members_of(cabinet)
    elif section == "terms":
        ctx["terms_text"] = terms.text(svc.settings, terms.current_version(svc.settings),
                                       await render.lang(request))
    elif section == "credit":
        ctx["credit"] = await billing.summary(cabinet)
        ctx["ledger"] = await LedgerEntry.filter(cabinet_id=cabinet.id).order_by(
            "-id").limit(LEDGER_ROWS)
    elif section == "keys":
        ctx["keys"] = await apikeys.list_keys(cabinet.slug)
        ctx["members"] = await people.members_of(cabinet)
    elif section == "seals":
        ctx["seals"] = await seal_history.seals_made(cabinet, current.person_id)
    elif section == "webhooks":
        ctx["endpoints"] = await webhooks.list_endpoints(cabinet.slug)
        ctx["deliveries"] = await webhooks.deliveries(cabinet.slug)
    ctx.update(extra)
    return await render.page(request, "cabinet", **ctx)


def _page(section: str):
    async def handler(request: web.Request) -> web.Response:
        try:
            return await _context(request, section)
        except ParapheError as exc:
            return await render.error(request, exc)
    handler.__name__ = f"{section}_page"
    return handler


async def _act(request: web.Request, do, back: str) -> web.Response:
    """Runs one form's core call as the signed-in member, then back to the page (POST-
    redirect-GET); a refusal shows the error page with its status."""
    current = await required(request)
    try:
        form = await render.posted(request)
        membership = await people.acting_membership(current.person_id,
                                                    request.match_info["slug"])
        done = await do(actor(request, current), membership.cabinet, form)
    except ParapheError as exc:
        return await render.error(request, exc)
    if isinstance(done, web.Response):
        return done
    raise web.HTTPSeeOther(f"/c/{request.match_info['slug']}/{back}?done={done}")


def _person_id(request: web.Request) -> int:
    return int(request.match_info["person"])


async def invite(request: web.Request) -> web.Response:
    async def do(who, cabinet, form):
        await people.invite_collaborator(
            _svc(request).settings, who, cabinet, email=str(form.get("email", "")),
            name=str(form.get("name", "")), language=str(form.get("language", "fr")))
        return "invited"
    return await _act(request, do, "members")


async def remove(request: web.Request) -> web.Response:
    async def do(who, cabinet, form):
        await people.remove_collaborator(who, cabinet, _person_id(request))
        return "removed"
    return await _act(request, do, "members")


async def delegation(request: web.Request) -> web.Response:
    change = request.match_info["change"]

    async def do(who, cabinet, form):
        membership = await Membership.get_or_none(person_id=_person_id(request),
                                                  cabinet_id=cabinet.id).prefetch_related(
            "person")
        if membership is None:
            raise NotAMemberError("this person is not a member of the cabinet",
                                         cabinet=cabinet.slug)
        use_case = delegations.grant if change == "grant" else delegations.revoke
        await use_case(who, membership.person, cabinet, str(form.get("action", "")))
        return "granted" if change == "grant" else "revoked"
    return await _act(request, do, "members")


async def accept(request: web.Request) -> web.Response:
    async def do(who, cabinet, form):
        await terms.accept_terms(_svc(request), who, cabinet, str(form.get("version", "")))
        return "accepted"
    return await _act(request, do, "terms")


async def create_key(request: web.Request) -> web.Response:
    async def do(who, cabinet, form):
        created = await apikeys.create_key(
            who, cabinet=cabinet.slug, email=str(form.get("email", "")),
            name=str(form.get("name", "")), scopes=[str(s) for s in form.getall("scope", [])])
        # Shown once, on this answer: never stored, never in a URL.
        return await _context(request, "keys", created=created)
    return await _act(request, do, "keys")


async def revoke_key(request: web.Request) -> web.Response:
    async def do(who, cabinet, form):
        await apikeys.revoke_key(who, cabinet=cabinet.slug, key_id=int(request.match_info["key"]))
        return "key_revoked"
    return await _act(request, do, "keys")


async def to_home(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther("/c/")


async def add_webhook(request: web.Request) -> web.Response:
    async def do(who, cabinet, form):
        settings = _svc(request).settings
        events = [e.strip() for e in str(form.get("events", "")).split(",") if e.strip()]
        created = await webhooks.add_endpoint(
            who, cabinet=cabinet.slug, url=str(form.get("url", "")).strip(), events=events,
            box=SecretBox(settings), targets=WebhookTargets.from_settings(settings))
        # The signing secret is shown once, on this answer.
        return await _context(request, "webhooks", created_webhook=created)
    return await _act(request, do, "webhooks")


async def remove_webhook(request: web.Request) -> web.Response:
    async def do(who, cabinet, form):
        await webhooks.remove_endpoint(who, cabinet=cabinet.slug,
                                       endpoint_id=int(request.match_info["endpoint"]))
        return "webhook_removed"
    return await _act(request, do, "webhooks")


def add_routes(app: web.Application, svc: Services) -> None:
    app[SERVICES] = svc
    app.router.add_get("/c/", home)
    app.router.add_get("/c", to_home)
    base = f"/c/{SLUG}"
    app.router.add_get(base, _page("overview"))
    for section in ("members", "terms", "credit", "keys", "seals", "webhooks"):
        app.router.add_get(f"{base}/{section}", _page(section))
    person = r"{person:\d{1,12}}"
    app.router.add_post(f"{base}/members/invite", invite)
    app.router.add_post(f"{base}/members/{person}/remove", remove)
    app.router.add_post(f"{base}/members/{person}/{{change:grant|revoke}}", delegation)
    app.router.add_post(f"{base}/terms/accept", accept)
    app.router.add_post(f"{base}/keys", create_key)
    app.router.add_post(rf"{base}/keys/{{key:\d{{1,12}}}}/revoke", revoke_key)
    app.router.add_post(f"{base}/webhooks", add_webhook)
    app.router.add_post(rf"{base}/webhooks/{{endpoint:\d{{1,12}}}}/remove", remove_webhook)
