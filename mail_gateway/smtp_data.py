"""aiosmtpd's SMTP with a DATA reader that keeps one copy of the message, not one object per line.

aiosmtpd reads DATA line by line into a list of bytearrays (about 2.5 times the message
with Python's per-object overhead) and joins them: five sessions receiving 14 MB messages at
once held some 160 MB. This reader takes what the stream has up to the end of DATA in
chunks, into one buffer, with the same answers: 552 when over the size limit, 500 for a line
over the line length limit (both after the end of DATA, as RFC 5321 4.2.5 implies), then
the handler's DATA hook.
"""

from __future__ import annotations

import asyncio
import logging
import re

from aiosmtpd.smtp import SMTP

from compat import aiosmtpd as compat_aiosmtpd
from mail_gateway import errors

log = logging.getLogger(__name__)

_TERMINATOR = b".\r\n"  # the end of DATA when it starts a line


class DataTooLong(Exception):
    """A line over the limit (500) or a message over the size limit (552)."""

    def __init__(self, refusal: errors.Refusal) -> None:
        super().__init__(refusal.status)
        self.refusal = refusal
        self.status = refusal.status


class GatewaySMTP(SMTP):
    """The SMTP protocol of the gateway: aiosmtpd's, with a frugal DATA and readable refusals.

    What it takes of aiosmtpd's internals goes through compat.aiosmtpd, checked at start-up.
    """

    def __init__(self, handler, *, document_limit: int, **kwargs) -> None:
        super().__init__(handler, **kwargs)
        megabytes = document_limit / (1024 * 1024)
        self.too_big = errors.MESSAGE_TOO_BIG.line(
            mb=int(megabytes) if megabytes.is_integer() else round(megabytes, 1))

    async def push(self, status) -> None:
        if compat_aiosmtpd.is_size_refusal(status):  # Replaced by the gateway's own text.
            status = self.too_big
        await super().push(status)

    async def smtp_DATA(self, arg: str) -> None:
        if not compat_aiosmtpd.frugal_data():
            return await super().smtp_DATA(arg)
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            content = await read_data(compat_aiosmtpd.data_stream(self), self.data_size_limit,
                                      self.line_length_limit)
        except asyncio.CancelledError:
            log.info("connection lost during DATA")
            compat_aiosmtpd.close(self)
            raise
        except asyncio.IncompleteReadError:
            log.info("connection closed during DATA")
            compat_aiosmtpd.close(self)
            return
        except DataTooLong as refused:
            compat_aiosmtpd.end_data(self)
            if refused.refusal is errors.MESSAGE_TOO_BIG:
                await self.push(self.too_big)
            else:  # The limit counts the CRLF (RFC 5321 4.5.3.1.6).
                await self.push(refused.refusal.line(limit=self.line_length_limit - 2))
            return
        self.envelope.content = self.envelope.original_content = content
        status = await compat_aiosmtpd.data_hook(self)
        compat_aiosmtpd.end_data(self)
        await self.push("250 OK" if status is None else status)


async def read_data(reader: asyncio.StreamReader, size_limit: int | None,
                    line_limit: int) -> bytes:
    """The message up to the line `.`, dot-unstuffed; raises DataTooLong once it is all read.

    Reads what the stream holds up to each `.<CRLF>`, never past the end of DATA, so a
    pipelined command that follows stays in the stream.
    """
    # Anchored on the newline before each line: a pattern free to start anywhere would try
    # every position of a 256 KB chunk.
    long_line = re.compile(rb"\n[^\n]{%d}" % line_limit)
    buf = bytearray()
    problem: errors.Refusal | None = None
    total = 0
    line_length = 0  # bytes of the current, unfinished line
    before = b"\n"  # the byte before the next chunk: DATA starts at the start of a line
    while True:
        try:
            chunk = await reader.readuntil(_TERMINATOR)
            found = True
        except asyncio.LimitOverrunError as over:
            # The separator is beyond the stream's limit, or not there yet: take what is
            # certainly before it; readuntil looks again at what is left.
            chunk = await reader.readexactly(over.consumed)
            found = False
        ending = found and (chunk[-4:-3] == b"\n" if len(chunk) > 3 else before == b"\n")
        if ending:
            chunk = chunk[:-3]
        total += len(chunk)
        if problem is None:
            if size_limit and total > size_limit:
                problem = errors.MESSAGE_TOO_BIG
            elif _too_long(chunk, line_length, line_limit, long_line):
                problem = errors.LINE_TOO_LONG
        if problem is not None:
            buf = bytearray()  # Discard at once what will not be kept.
        else:
            buf += chunk
        newline = chunk.rfind(b"\n")
        line_length = line_length + len(chunk) if newline < 0 else len(chunk) - newline - 1
        if chunk:
            before = chunk[-1:]
        if ending:
            break
    if problem is not None:
        raise DataTooLong(problem)
    data = bytes(buf)
    del buf
    # RFC 5321 4.5.2: a line starting with a dot was sent with one dot more.
    if data.startswith(b"."):
        data = data[1:]
    if b"\r\n." in data:
        data = data.replace(b"\r\n.", b"\r\n")
    return data


def _too_long(chunk: bytes, line_length: int, line_limit: int, long_line: re.Pattern) -> bool:
    """Whether a line, counted with the end of the previous chunk, exceeds the limit."""
    first = chunk.find(b"\n")
    head = len(chunk) if first < 0 else first + 1
    if line_length + head > line_limit:
        return True
    return first >= 0 and long_line.search(chunk, first) is not None
