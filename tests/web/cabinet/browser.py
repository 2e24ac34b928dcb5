"""A browser-like client of the cabinet space: a cookie jar, the forms' CSRF token read
from each page, the sign-in code read from the outbox."""

from __future__ import annotations

import html
import re

import aiohttp

from workflows.models import Notification

CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: str) -> str:
    return html.unescape(CSRF_RE.search(page).group(1))


def problem_of(page: str) -> str | None:
    found = re.search(r'id="problem" data-code="([a-z_]+)"', page)
    return found.group(1) if found else None


class Browser:
    def __init__(self, base: str, user_agent: str = "Mozilla/5.0 (test) Firefox/140.0"):
        self.base = base
        self.session = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),  # 127.0.0.1 is an IP address.
            headers={"User-Agent": user_agent, "Accept-Language": "fr"})
        self.page = ""

    async def close(self) -> None:
        await self.session.close()

    async def get(self, path: str, **kw) -> tuple[aiohttp.ClientResponse, str]:
        r = await self.session.get(self.base + path, **kw)
        self.page = await r.text()
        return r, self.page

    async def post(self, path: str, *, csrf: str | None = None, follow: bool = False,
                   **form) -> tuple[aiohttp.ClientResponse, str]:
        data = dict(form)
        token = csrf if csrf is not None else csrf_of(self.page)
        if token:
            data["csrf"] = token
        r = await self.session.post(self.base + path, data=data, allow_redirects=follow)
        text = await r.text()
        if follow or r.status != 303:
            self.page = text
        return r, text

    async def sign_in(self, email: str) -> None:
        await self.get("/c/login")
        r, page = await self.post("/c/login", email=email)
        assert r.status == 200 and 'id="asked"' in page
        r, page = await self.post("/c/login/code", email=email, code=await last_code(email))
        assert r.status == 303 and r.headers["Location"] == "/c/", (r.status, page)
        await self.get("/c/")


async def last_sign_in(email: str) -> Notification | None:
    return await Notification.filter(recipient=email, template="member/sign_in").order_by(
        "-id").first()


async def last_code(email: str) -> str:
    return (await last_sign_in(email)).context["code"]
