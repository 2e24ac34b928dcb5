"""Signing in to the cabinet space: e-mail, then the mailed code or link; sign-out; the
member's sessions, each of which they can end."""

from __future__ import annotations

from aiohttp import web

from web.cabinet import render, session
from web.errors import status_of
from workflows import cabinet_sessions, text
from workflows.actors import Actor
from workflows.errors import ParapheError, SessionNotFoundError

MAX_EMAIL = 254


def _origin(request: web.Request) -> dict:
    return {"ip": request.remote, "user_agent": request.headers.get("User-Agent")}


def see_other(location: str) -> web.Response:
    """A 303 to `location` that the handler returns, so that it can carry cookies."""
    return web.Response(status=303, headers={"Location": location})


def _signed_in(request: web.Request, opened: cabinet_sessions.Opened) -> web.Response:
    response = see_other("/c/")
    session.sign_in(request, response, opened.token)
    session.set_cookie(request, response, session.ANON_COOKIE, "", 0)
    return response


async def login_page(request: web.Request) -> web.Response:
    if await session.current(request) is not None:
        raise web.HTTPSeeOther("/c/")
    return await render.page(request, "login", email="", asked=False, problem=None)


async def ask(request: web.Request) -> web.Response:
    """Mails a code to a member's address; every address gets the same answer page."""
    try:
        form = await render.posted(request)
    except ParapheError as exc:
        return await render.error(request, exc)
    email = str(form.get("email", ""))[:MAX_EMAIL].strip()
    await cabinet_sessions.ask_sign_in(request.app[session.SERVICES].settings, email)
    return await render.page(request, "login", email=email, asked=True, problem=None)


async def with_code(request: web.Request) -> web.Response:
    try:
        form = await render.posted(request)
    except ParapheError as exc:
        return await render.error(request, exc)
    email = str(form.get("email", ""))[:MAX_EMAIL].strip()
    try:
        opened = await cabinet_sessions.sign_in_with_code(
            email, str(form.get("code", "")), **_origin(request))
    except ParapheError as exc:
        return await render.page(request, "login", status=status_of(exc), email=email,
                                 asked=True, problem={"code": exc.code,
                                                      "details": exc.details})
    return _signed_in(request, opened)


async def link_page(request: web.Request) -> web.Response:
    """The mailed link shows a button: a GET (a mail scanner's) signs nobody in."""
    return await render.page(request, "link", token=request.match_info["token"])


async def with_link(request: web.Request) -> web.Response:
    try:
        await render.posted(request)
        opened = await cabinet_sessions.sign_in_with_link(request.match_info["token"],
                                                          **_origin(request))
    except ParapheError as exc:
        return await render.error(request, exc)
    return _signed_in(request, opened)


async def logout(request: web.Request) -> web.Response:
    current = await session.current(request)
    try:
        await render.posted(request)
    except ParapheError as exc:
        return await render.error(request, exc)
    if current is not None:
        await cabinet_sessions.revoke_session(actor(request, current), current.id)
    response = see_other("/c/login")
    session.sign_out(request, response)
    return response


def actor(request: web.Request, current) -> Actor:
    """The signed-in member acting on a page (IP, browser and session kept in the evidence)."""
    return Actor(person_id=current.person_id, channel="web",
                 origin={"ip": request.remote, "session": current.id,
                         "user_agent": text.clean_line(request.headers.get("User-Agent"),
                                                       cabinet_sessions.USER_AGENT_LIMIT)})


async def sessions_page(request: web.Request) -> web.Response:
    current = await required(request)
    return await render.page(request, "sessions", current_id=current.id,
                             sessions=await cabinet_sessions.sessions_of(current.person_id),
                             done=request.query.get("done") == "revoked")


async def revoke(request: web.Request) -> web.Response:
    current = await required(request)
    try:
        await render.posted(request)
        session_id = int(request.match_info["id"])
        if not await cabinet_sessions.revoke_session(actor(request, current), session_id):
            raise SessionNotFoundError("this session is not yours or has ended already")
    except ParapheError as exc:
        return await render.error(request, exc)
    if session_id == current.id:
        response = see_other("/c/login")
        session.sign_out(request, response)
        return response
    raise web.HTTPSeeOther("/c/sessions?done=revoked")


async def required(request: web.Request):
    """The live session, or a redirect to the sign-in page."""
    current = await session.current(request)
    if current is None:
        raise web.HTTPSeeOther("/c/login")
    return current


def add_routes(app: web.Application) -> None:
    token = r"{token:[A-Za-z0-9_-]{16,128}}"
    app.router.add_get("/c/login", login_page)
    app.router.add_post("/c/login", ask)
    app.router.add_post("/c/login/code", with_code)
    app.router.add_get(f"/c/login/{token}", link_page)
    app.router.add_post(f"/c/login/{token}", with_link)
    app.router.add_post("/c/logout", logout)
    app.router.add_get("/c/sessions", sessions_page)
    app.router.add_post(r"/c/sessions/{id:\d{1,12}}/revoke", revoke)
