"""Rendering the cabinet space's pages: the language, the CSRF token of the forms, the
security headers, and the error page of a refused request."""

from __future__ import annotations

from aiohttp import web

from paraphe.templating import render_html
from web import forms
from web.cabinet import session
from web.errors import PAGE_HEADERS, headers_for, language_of, status_of
from workflows.errors import ParapheError

ERROR_PAGE = "web/cabinet/error"
MAX_FORM = 16 * 1024


async def lang(request: web.Request) -> str:
    current = await session.current(request)
    return language_of(request, current.person.language if current else None)


async def page(request: web.Request, template: str, *, status: int = 200,
               headers: dict | None = None, **ctx) -> web.Response:
    """The page `template` of templates/web/cabinet/, its forms carrying the CSRF token."""
    current = await session.current(request)
    language = await lang(request)
    body = render_html(f"web/cabinet/{template}", language, lang=language,
                       csrf=await session.csrf_token(request), field=session.FIELD, status=status,
                       me=current.person if current else None, **ctx)
    response = web.Response(status=status, text=body, content_type="text/html",
                            headers=headers or PAGE_HEADERS)
    session.ensure_anon_cookie(request, response)
    return response


async def error(request: web.Request, exc: ParapheError) -> web.Response:
    """The page of a refused request: what happened, in words, with the error's status."""
    status = status_of(exc)
    return await page(request, "error", status=status, headers=headers_for(exc),
                      code=exc.code, details=exc.details)


async def posted(request: web.Request):
    """The posted form once its CSRF token is checked (CrossSiteRequestError otherwise)."""
    form = await forms.read_form(request, MAX_FORM)
    await session.check_csrf(request, form)
    return form
