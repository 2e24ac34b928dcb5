"""The cabinet space's session cookie and CSRF tokens.

Done by hand rather than with aiohttp-session / aiohttp-csrf: aiohttp-session (aio-libs,
maintained) keeps session data in the cookie (encrypted) or in Redis/Memcached, while a
member must be able to list their sessions and end any of them at once, so the session lives
in our database (workflows.cabinet_sessions) and the cookie holds only its random token;
aiohttp-csrf (last release 2020) and its fork aiohttp-csrf2 keep their token in a cookie or
in aiohttp-session's storage and add a Blake3 dependency, where a secret kept on our session
row is enough. The whole mechanism is a few lines of `secrets` and `hmac`:

- the cookie `paraphe_session` (HttpOnly, SameSite=Lax, Path=/c/, Secure under https)
  holds a 256-bit token whose SHA-256 names the session row;
- each session has its own CSRF secret; every form carries it in a hidden field and every
  POST is refused (403) unless the field matches, compared in constant time;
- before sign-in, the forms are bound to a random `paraphe_csrf` cookie instead (their token
  is an HMAC of it under the platform's link key), so another site cannot post them either.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from aiohttp import web

from web.errors import CrossSiteRequestError
from workflows import cabinet_sessions, links
from workflows.cabinet_sessions import SESSION_LIFETIME
from workflows.models import CabinetSession
from workflows.services import Services

COOKIE = "paraphe_session"
ANON_COOKIE = "paraphe_csrf"
PATH = "/c/"
FIELD = "csrf"
SERVICES = web.AppKey("cabinet_services", object)
SESSION = web.RequestKey("cabinet_session", object)
NEW_ANON = web.RequestKey("cabinet_new_anon_csrf", str)


def _secure(request: web.Request) -> bool:
    return request.app[SERVICES].settings.public_url.startswith("https://")


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str,
               max_age: int | None = None) -> None:
    response.set_cookie(name, value, path=PATH, httponly=True, samesite="Lax",
                        secure=_secure(request), max_age=max_age)


def sign_in(request: web.Request, response: web.StreamResponse, token: str) -> None:
    set_cookie(request, response, COOKIE, token, int(SESSION_LIFETIME.total_seconds()))


def sign_out(request: web.Request, response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE, path=PATH, secure=_secure(request), httponly=True,
                        samesite="Lax")


async def current(request: web.Request) -> CabinetSession | None:
    """The request's live session (cached on the request), or None."""
    if SESSION not in request:
        request[SESSION] = await cabinet_sessions.session_for(request.cookies.get(COOKIE))
    return request[SESSION]


def _anon_token(request: web.Request, value: str) -> str:
    key = links.link_key(request.app[SERVICES].settings)
    return hmac.new(key, f"cabinet-csrf:{value}".encode(), hashlib.sha256).hexdigest()


def anon_value(request: web.Request) -> str:
    """The pre-sign-in CSRF cookie's value (a new one when the browser has none; the page's
    response must then set it: `ensure_anon_cookie`)."""
    value = request.cookies.get(ANON_COOKIE) or request.get(NEW_ANON)
    if not value or len(value) > 64:
        value = request[NEW_ANON] = secrets.token_urlsafe(24)
    return value


def ensure_anon_cookie(request: web.Request, response: web.StreamResponse) -> None:
    if NEW_ANON in request:
        set_cookie(request, response, ANON_COOKIE, request[NEW_ANON])


async def csrf_token(request: web.Request) -> str:
    """The token the page's forms carry."""
    session = await current(request)
    if session is not None:
        return session.csrf_secret
    return _anon_token(request, anon_value(request))


async def check_csrf(request: web.Request, form) -> None:
    """Raises CrossSiteRequestError unless the posted form carries this browser's token."""
    sent = str(form.get(FIELD, ""))
    session = await current(request)
    if session is not None:
        expected = session.csrf_secret
    else:
        value = request.cookies.get(ANON_COOKIE)
        expected = _anon_token(request, value) if value and len(value) <= 64 else ""
    if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CrossSiteRequestError("this form was not sent by one of our pages")


def setup(app: web.Application, svc: Services) -> None:
    app[SERVICES] = svc
