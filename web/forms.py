"""The small forms of the pages (signer, registration): bounded, and text that is not UTF-8
refused as the text rule refuses it, not with a server error."""

from __future__ import annotations

from aiohttp import web

from workflows.errors import TextInvalidError


async def read_form(request: web.Request, max_size: int):
    """The posted fields; raises HTTPRequestEntityTooLarge over `max_size` bytes and
    TextInvalidError when a multipart field is not UTF-8 (aiohttp raises UnicodeDecodeError)."""
    if request.content_length and request.content_length > max_size:
        raise web.HTTPRequestEntityTooLarge(max_size=max_size, actual_size=request.content_length)
    try:
        return await request.post()
    except UnicodeDecodeError:
        raise TextInvalidError("a field of the form is not UTF-8 text", field="form",
                               reason="unsafe_character") from None
