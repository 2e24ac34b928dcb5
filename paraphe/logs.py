"""The service's log lines: plain text, or one JSON object per line (PARAPHE_LOG_FORMAT=json),
each carrying the id of the request or mail it belongs to.

The id lives in a context variable: set by the web middleware for a request and by the mail
gateway for a message, it follows the work through every await and every module, the core's
included, without being passed around.
"""

from __future__ import annotations

import logging
import re
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import IO

from pythonjsonlogger.json import JsonFormatter

# The request's or the message's id; "-" outside any.
correlation: ContextVar[str] = ContextVar("paraphe_correlation", default="-")
# An id given by a proxy (X-Request-Id) is kept only when it is this plain.
_PLAIN_ID = re.compile(r"[A-Za-z0-9._:@-]{1,80}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s"
JSON_FIELDS = {"asctime": "time", "levelname": "level", "name": "logger"}


def new_id(given: str | None = None) -> str:
    """`given` when it is a plain id (a proxy's), else a new random one."""
    if given and _PLAIN_ID.fullmatch(given):
        return given
    return secrets.token_hex(8)


@contextmanager
def scope(identifier: str) -> Iterator[str]:
    """Log lines written inside carry `identifier`."""
    token = correlation.set(identifier)
    try:
        yield identifier
    finally:
        correlation.reset(token)


class CorrelationFilter(logging.Filter):
    """Gives every record the current request or message id."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation.get()
        return True


def formatter(kind: str) -> logging.Formatter:
    if kind == "json":
        return JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(correlation_id)s",
                             rename_fields=JSON_FIELDS, json_ensure_ascii=False)
    return logging.Formatter(TEXT_FORMAT)


def configure(kind: str = "text", level: str = "INFO", stream: IO[str] | None = None) -> None:
    """One handler on the root logger, in `kind` ("text" or "json"), at `level`."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(kind))
    handler.addFilter(CorrelationFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # aiosmtpd logs every command line and recipient at INFO ("recip: seal+<secret>@…"): a
    # person's secret mail-in address authenticates their mail, so its lines stop at warnings.
    logging.getLogger("mail.log").setLevel(max(logging.WARNING, root.level))
