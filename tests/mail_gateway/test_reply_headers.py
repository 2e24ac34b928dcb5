"""Reply headers built from a sender's text: encoded, never re-read as the sender's encoded words,
threading ids verbatim."""

from __future__ import annotations

import pytest

from tests.dispatching import mail_dispatcher
from tests.mail_gateway.mailer import outbox
from workflows import notifications

CONTEXT = {"name": "Paul", "command": "seal", "mail_domain": "paraphe.localhost",
           "cause": {"code": "document_missing"}, "cabinets": ["dupont"]}


@pytest.mark.parametrize("thread, subject, in_reply_to, references", [
    # A reply recorded before intake cleaned headers: a line break would inject a header.
    ({"subject": "Re: Bilan\r\nBcc: evil@example.com", "in_reply_to": "<a\r\nb@dupont.fr>",
      "references": "<q0@dupont.fr> <a\r\nb@dupont.fr>"},
     "Re: Bilan Bcc: evil@example.com", None, "<q0@dupont.fr>"),
    # Text that reads as encoded words of an unknown charset: the email package would decode
    # them and then fail to write them back.
    ({"subject": "Re: =?unknown-8bit?b?6XTp?= café", "in_reply_to": "<=?unknown-8bit?b?6XTp?=@x>",
      "references": "<=?unknown-8bit?b?6XTp?=@x>"},
     "Re: =?unknown-8bit?b?6XTp?= café", "<=?unknown-8bit?b?6XTp?=@x>",
     "<=?unknown-8bit?b?6XTp?=@x>"),
])
async def test_reply_headers_from_hostile_text_are_built_and_read_back_as_written(
        svc, settings, thread, subject, in_reply_to, references):
    await notifications.enqueue(channel="mail", template="sender/refused",
                                recipient="paul@dupont.fr", language="en", context=CONTEXT,
                                thread={**thread, "from": "seal@paraphe.localhost"},
                                dedup_key="t:1")
    assert await mail_dispatcher(svc).run_once() == 1
    (msg,) = outbox(settings.home)
    assert msg["Subject"] == subject and msg["Bcc"] is None
    assert msg.get_body(preferencelist=("plain",)).get_content().startswith("Hello Paul,")
    raw = next((settings.home / "outbox" / "new").iterdir()).read_bytes()
    head = raw.split(b"\n\n", 1)[0]
    assert all(32 <= b < 127 or b in b"\r\n\t" for b in head)  # 7-bit, encoded
    # Message ids are written as they came (a reader may decode what looks like words).
    fields = dict(line.split(b": ", 1) for line in head.replace(b"\n ", b" ").split(b"\n"))
    assert fields.get(b"In-Reply-To", b"").decode() == (in_reply_to or "")
    assert fields.get(b"References", b"").decode() == references
