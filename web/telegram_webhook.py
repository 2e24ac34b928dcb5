"""Telegram's webhook: updates POSTed by Telegram, admitted by their secret token header and
handed to the bot, whichever instance the load balancer picked.

The web does not import the bot (transports are independent): the runtime gives the inbox
the bot's `accept` once the bot runs.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

log = logging.getLogger("paraphe.web")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# An update is a message or a button tap with its entities: a few kilobytes. Telegram's text
# limit is 4096 characters, and a reply quotes one more message.
MAX_UPDATE_BYTES = 256 * 1024


@dataclass
class TelegramInbox:
    """Where Telegram's updates arrive (`path`), the secret token they must carry, and the
    bot's `accept(update) -> bool` (False while it is stopping; ValueError for what is no
    update), None until the bot runs."""

    path: str
    secret: str = field(repr=False)
    accept: Callable[[dict], bool] | None = None


INBOX = web.AppKey("telegram_inbox", TelegramInbox)


def add_routes(app: web.Application, inbox: TelegramInbox) -> None:
    app[INBOX] = inbox
    app.router.add_post(inbox.path, receive_update)


async def receive_update(request: web.Request) -> web.Response:
    inbox = request.app[INBOX]
    # Header values arrive decoded leniently: "replace" keeps a stray byte from raising.
    given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
    if not hmac.compare_digest(given, inbox.secret.encode()):
        # Neither the token given nor the expected one is logged; the access line says 403.
        return web.Response(status=403, text="forbidden")
    body = await _body(request)
    if body is None:
        return web.Response(status=413, text="update too large")
    try:
        update = json.loads(body)
    except ValueError:  # UnicodeDecodeError too.
        return web.Response(status=400, text="not JSON")
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
        return web.Response(status=400, text="not an update")
    if inbox.accept is None:
        # The bot is not running yet: Telegram retries, here or on another instance.
        return web.Response(status=503, text="bot not running", headers={"Retry-After": "1"})
    try:
        accepted = inbox.accept(update)
    except ValueError:
        log.info("telegram update %s refused: not an update", update["update_id"])
        return web.Response(status=400, text="not an update")
    if not accepted:
        return web.Response(status=503, text="stopping", headers={"Retry-After": "1"})
    return web.Response(status=200)


async def _body(request: web.Request) -> bytes | None:
    """The body, or None when it is over MAX_UPDATE_BYTES (read no further than that)."""
    if (request.content_length or 0) > MAX_UPDATE_BYTES:
        return None
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_UPDATE_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
