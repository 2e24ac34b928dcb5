"""aiosmtpd 1.4: the gateway's DATA reader and its refusal text, on aiosmtpd's internals.

mail_gateway.smtp_data.GatewaySMTP overrides `SMTP.smtp_DATA` to read a message into one
buffer (see there why); doing what aiosmtpd's DATA does around the read takes its private
stream, its private end-of-DATA reset and its private hook call, reached only through the
functions below. The gateway also replaces aiosmtpd's own text for a `MAIL FROM … SIZE=n`
over the limit, which it recognises by that text (`is_size_refusal`).

Overrides, for PARAPHE_COMPAT_DISABLE and tests/compat/test_aiosmtpd.py:
`aiosmtpd.data` (GatewaySMTP falls back to aiosmtpd's DATA) and `aiosmtpd.size_text`.
"""

from __future__ import annotations

import asyncio

from aiosmtpd import smtp

from compat import Checks, disabled

# aiosmtpd's answer to `MAIL FROM:<…> SIZE=n` over the limit.
SIZE_REFUSAL = "552 Error: message size exceeds fixed maximum message size"

_data = True
_size_text = True
_checked = False


def frugal_data() -> bool:
    """Whether GatewaySMTP reads DATA itself (else aiosmtpd's own `smtp_DATA` does)."""
    return _data


def is_size_refusal(status: str) -> bool:
    """Whether `status` is aiosmtpd's refusal of a declared SIZE over the limit."""
    return _size_text and status == SIZE_REFUSAL


def data_stream(protocol: smtp.SMTP) -> asyncio.StreamReader:
    """The stream the session reads commands and DATA from."""
    return protocol._reader


def close(protocol: smtp.SMTP) -> None:
    """Closes the session's connection."""
    protocol._writer.close()


def end_data(protocol: smtp.SMTP) -> None:
    """What aiosmtpd does after DATA, whatever its outcome: a new envelope, the session
    ready for the next MAIL."""
    protocol._set_post_data_state()


async def data_hook(protocol: smtp.SMTP) -> str | None:
    """Calls the handler's `handle_DATA`; its status line, or None when it has none."""
    status = await protocol._call_handler_hook("DATA")
    return None if status is smtp.MISSING else status


def install() -> None:
    """Checks that aiosmtpd still has every name the functions above and GatewaySMTP use
    (raises compat.CompatError), and reads PARAPHE_COMPAT_DISABLE. Idempotent."""
    global _checked, _data, _size_text
    if not _checked:
        _check()
        _checked = True
    _data = not disabled("aiosmtpd.data")
    _size_text = not disabled("aiosmtpd.size_text")


def _check() -> None:
    c = Checks("aiosmtpd", "1.4", "aiosmtpd", "compat/aiosmtpd.py")
    c.name(smtp, "MISSING")
    # Commands are dispatched to the `smtp_<COMMAND>` methods, collected by __init__.
    c.text(smtp.SMTP.__init__, "smtp_")
    c.name(smtp.SMTP, "smtp_DATA", ("self", "arg"))
    c.uses(smtp.SMTP.connection_made, "_reader", "_writer")
    c.uses(smtp.SMTP.__init__, "envelope", "data_size_limit", "line_length_limit")
    c.name(smtp.SMTP, "_set_post_data_state", ("self",))
    c.name(smtp.SMTP, "_call_handler_hook", ("self", "command", "args"))
    c.name(smtp.SMTP, "check_helo_needed", ("self", "helo"))
    c.name(smtp.SMTP, "check_auth_needed", ("self", "caller_method"))
    c.name(smtp.SMTP, "push", ("self", "status"))
    c.text(c.name(smtp.SMTP, "smtp_MAIL"), SIZE_REFUSAL)
