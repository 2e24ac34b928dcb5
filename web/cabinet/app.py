"""The cabinet space's routes (/c/)."""

from __future__ import annotations

from aiohttp import web

from web.cabinet import collections_pages, pages, session, signin
from workflows.services import Services


def add_routes(app: web.Application, svc: Services) -> None:
    session.setup(app, svc)
    signin.add_routes(app)
    pages.add_routes(app, svc)
    collections_pages.add_routes(app, svc)
