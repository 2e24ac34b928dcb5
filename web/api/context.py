"""What every API handler shares: the authenticated key, scopes, input parsing, idempotent POSTs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from workflows import apikeys, idempotency
from workflows.actors import Actor
from workflows.errors import ApiRequestInvalidError, DocumentTooLargeError
from workflows.models import ApiKey

API_KEY = web.RequestKey("api_key", ApiKey)
SVC = web.AppKey("api_services", object)
BASE = "/api/v1"


def services(request: web.Request):
    return request.config_dict[SVC]


def key_of(request: web.Request) -> ApiKey:
    return request[API_KEY]


def authorize(request: web.Request, scope: str) -> tuple[ApiKey, Actor]:
    """The request's key and actor; raises ApiScopeMissingError without `scope`."""
    key = key_of(request)
    apikeys.require_scope(key, scope)
    return key, apikeys.actor_for(key, ip=request.remote or "",
                                  user_agent=request.headers.get("User-Agent", "")[:200])


def json_response(data, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(status=status, headers=headers, content_type="application/json",
                        body=json.dumps(data, ensure_ascii=False, default=str))


class Form:
    """A multipart (or urlencoded) request: text fields and uploaded files."""

    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}
        self.files: list[tuple[str, str, bytes]] = []  # (field, filename, data)

    def text(self, name: str, default: str | None = None) -> str | None:
        values = self.fields.get(name)
        return values[-1] if values else default

    def digest(self, extra: str = "") -> str:
        """SHA-256 of the parsed content, so that a new multipart boundary is the same body."""
        canonical = {"fields": self.fields, "extra": extra,
                     "files": [[f, n, hashlib.sha256(d).hexdigest()] for f, n, d in self.files]}
        return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def media_type_of(request: web.Request) -> str:
    """The body's media type, lower case, without parameters.

    Read from the header directly: aiohttp's `request.content_type` parses it with the
    e-mail package, which costs the event loop a third of a millisecond per request.
    """
    raw = request.headers.get("Content-Type", "")
    return raw.split(";", 1)[0].strip().lower() or "application/octet-stream"


async def read_form(request: web.Request, max_total: int) -> Form:
    """Reads a multipart/form-data body within `max_total` bytes.

    Raises ApiRequestInvalidError for another content type, DocumentTooLargeError
    when the body is too big.
    """
    form = Form()
    media_type = media_type_of(request)
    if media_type == "application/x-www-form-urlencoded":
        for name, value in (await request.post()).items():
            form.fields.setdefault(name, []).append(str(value))
        return form
    if media_type != "multipart/form-data":
        raise ApiRequestInvalidError("send multipart/form-data", content_type=media_type)
    total = 0
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if part.name is None:
                continue
            chunks = []
            while chunk := await part.read_chunk(256 * 1024):
                total += len(chunk)
                if total > max_total:
                    raise DocumentTooLargeError(
                        f"the request is over {max_total // (1024 * 1024)} MB")
                chunks.append(chunk)
            data = b"".join(chunks)
            if part.filename is not None:
                form.files.append((part.name, part.filename, data))
            else:
                form.fields.setdefault(part.name, []).append(
                    data.decode(part.get_charset("utf-8"), errors="replace"))
    except (HttpProcessingError, ValueError, AssertionError, LookupError) as exc:
        raise ApiRequestInvalidError(f"unreadable multipart body: {exc}") from None
    return form


Handler = Callable[[], Awaitable[web.Response]]


async def idempotent(request: web.Request, request_sha256: str, run: Handler) -> web.Response:
    """Runs a POST once per Idempotency-Key: replays its first 2xx answer for the same input.

    Answers that are PDFs are kept by their document's SHA-256 (header
    ``X-Document-Sha256`` set by the handler), not as bytes in the database.
    """
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return await run()
    api_key = key_of(request)
    stored = await idempotency.begin(api_key.id, key, method=request.method,
                                     path=request.path, request_sha256=request_sha256)
    if stored is not None:
        headers = {**stored.headers, "Idempotent-Replayed": "true"}
        if stored.document_sha256:
            body = await services(request).documents.read(stored.document_sha256)
            return web.Response(status=stored.status, body=body,
                                content_type=stored.content_type, headers=headers)
        return web.Response(status=stored.status, body=stored.body.encode("utf-8"),
                            content_type=stored.content_type, headers=headers)
    try:
        response = await run()
    except BaseException:
        await idempotency.abandon(api_key.id, key)
        raise
    if not 200 <= response.status < 300:
        await idempotency.abandon(api_key.id, key)
        return response
    is_pdf = response.content_type == "application/pdf"
    doc = response.headers.get("X-Document-Sha256") if is_pdf else None
    kept = {k: v for k, v in response.headers.items()
            if k in ("Location", "Content-Disposition", "X-Document-Sha256", "X-Credit-Left")}
    if is_pdf and not doc:
        raise RuntimeError("a PDF answer must name its stored document in X-Document-Sha256")
    body = "" if is_pdf else response.body.decode("utf-8")
    await idempotency.finish(api_key.id, key, idempotency.StoredAnswer(
        status=response.status, content_type=response.content_type, body=body,
        document_sha256=doc, headers=kept))
    return response


def bad_request(message: str, **details) -> ApiRequestInvalidError:
    return ApiRequestInvalidError(message, **details)
