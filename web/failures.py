"""What nobody expected, answered all the same: logged with its trace under an error id the
answer gives too; a full disk is said as such (507)."""

from __future__ import annotations

import errno
import logging
import secrets

from aiohttp import web

from web.errors import error_page
from workflows.errors import ParapheError, StorageFullError, UnexpectedError

log = logging.getLogger("paraphe.web")
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def _disk_full(exc: BaseException | None) -> bool:
    """The failure or one of its causes is a full disk (a store may wrap the OSError)."""
    for _ in range(8):  # A chain of causes is short; a cycle made by hand must not hang us.
        if exc is None:
            return False
        if isinstance(exc, OSError) and exc.errno in DISK_FULL:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def translate(request: web.Request, exc: Exception) -> ParapheError:
    """The domain error telling what happened, after logging the failure with its trace; its
    details carry the `error_id` that the log line carries too."""
    error_id = secrets.token_hex(6)
    if _disk_full(exc):
        log.error("storage full: %s %s failed (error id %s)", request.method, _route(request),
                  error_id, exc_info=exc)
        return StorageFullError(error_id=error_id)
    log.error("%s %s failed (error id %s)", request.method, _route(request), error_id,
              exc_info=exc)
    return UnexpectedError(error_id=error_id)


def _route(request: web.Request) -> str:
    """The route's pattern (/s/{token}), not the path: signer and registration links are
    secrets, never logged."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "(no route)"


def _template(request: web.Request) -> str:
    return "web/registration/error" if request.path.startswith("/r/") else "web/signer/error"


@web.middleware
async def pages(request: web.Request, handler):
    """Turns a domain error or an unexpected exception of a page into its error page (the
    API's own middleware answers its requests first, with problem documents)."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except ParapheError as exc:
        return error_page(request, exc, template=_template(request))
    except Exception as exc:  # Every failure gets a page; its trace is in the log.
        return error_page(request, translate(request, exc), template=_template(request))
