"""`GET /api/v1/cabinet` and `PUT /api/v1/cabinet/siren`: the key's cabinet and its SIREN."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from aiohttp import web

from web.api.context import authorize, bad_request, json_response, media_type_of
from workflows import people
from workflows.models import Cabinet

MAX_BODY = 4096


def serialize(cabinet: Cabinet) -> dict:
    return {"slug": cabinet.slug, "name": cabinet.name, "siren": cabinet.siren}


async def read(request: web.Request) -> web.Response:
    key, _ = authorize(request, "read")
    return json_response(serialize(await Cabinet.get(id=key.cabinet_id)))


async def _siren_field(request: web.Request) -> str:
    """The `siren` of a JSON or urlencoded body; raises ApiRequestInvalidError."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise bad_request("the body is too long for a SIREN")
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise bad_request("the body is too long for a SIREN")
    if media_type_of(request) == "application/x-www-form-urlencoded":
        value = parse_qs(raw.decode("utf-8", "replace")).get("siren", [None])[-1]
    else:
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            raise bad_request('send {"siren": "552100554"} as JSON') from None
        value = body.get("siren") if isinstance(body, dict) else None
    if not isinstance(value, str):
        raise bad_request('send {"siren": "552100554"} as JSON', field="siren")
    return value


async def set_siren(request: web.Request) -> web.Response:
    """The cabinet's SIREN, which its seal names: an expert gives it while it has none."""
    key, actor = authorize(request, "seal")
    siren = await _siren_field(request)
    cabinet = await people.set_cabinet_siren(actor, await Cabinet.get(id=key.cabinet_id),
                                             siren)
    return json_response(serialize(cabinet))


def add(router: web.UrlDispatcher) -> None:
    router.add_get("/cabinet", read)
    router.add_put("/cabinet/siren", set_siren)
