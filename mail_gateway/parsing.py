"""What a worker process makes of a spooled message: its content hash, its parse and its
header section, so that the email package's pure-Python work never holds the service's loop
(nor its GIL) and the raw message is never in the service's memory when it is in a file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mail_gateway import mime
from mail_gateway.errors import MessageUnreadableError
from mail_gateway.sender_auth import parse_headers


@dataclass
class Parsed:
    content_hash: str
    # The whole message, or only its header fields when it cannot be read (see `unreadable`).
    mail: mime.InboundMail
    headers: Any  # the header section, a compat32 Message (for the rules)
    # Why the MIME structure cannot be read (message, details), or None.
    error: tuple[str, dict] | None = None

    def unreadable(self) -> MessageUnreadableError | None:
        # Carried as data: a ParapheError pickled across processes loses its details.
        if self.error is None:
            return None
        message, details = self.error
        return MessageUnreadableError(message, **details)


async def parse_spooled(svc, source: str | bytes, *, whole: bool = True) -> Parsed:
    """The spool entry `source` (a spool file's path, or the message's bytes) read in a
    worker; `whole=False` reads its header fields only. Raises FileNotFoundError when the
    file is gone."""
    return await svc.engine.call(parse_in_worker, source, whole)


# --- Worker side. ---------------------------------------------------------------------

def parse_in_worker(source: str | bytes, whole: bool) -> Parsed:
    raw = _raw(source)
    content_hash = mime.content_sha256(raw)
    headers = parse_headers(raw)
    if whole:
        try:
            return Parsed(content_hash, mime.parse(raw), headers)
        except MessageUnreadableError as exc:
            return Parsed(content_hash, mime.parse_headers_only(raw), headers,
                          error=(exc.message, exc.details))
    return Parsed(content_hash, mime.parse_headers_only(raw), headers)


def _raw(source: str | bytes) -> bytes:
    if not isinstance(source, str):
        return source
    with open(source, "rb") as fh:
        fh.readline()  # The envelope (mail_gateway.spool), which the service read.
        return fh.read()
