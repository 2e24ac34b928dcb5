"""Every outgoing mail has a plain-text and an HTML part with the same words: the HTML
readable in webmail (inline styles, no remote image, no script), a button for a signer's
link, the attachments beside both."""

from __future__ import annotations

import re
from email import message_from_bytes, policy

from mail_gateway.delivery import MailSender
from tests.pdfs import make_pdf
from tests.workflows.collection_world import pdf, world, world_settings  # noqa: F401
from workflows import collections, notifications
from workflows.collections import SignerSpec
from workflows.models import Notification


def _html_text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#x27;", "'")


async def test_an_invitation_is_text_and_html_with_a_button_and_no_remote_content(world):
    await collections.create_collection(
        world.svc, world.actor(world.expert), cabinet="dupre", documents=[("l.pdf", pdf())],
        signers=[SignerSpec("Jean <Client>", "jean@example.test")], title="Lettre & mission")
    n = await Notification.get(template="signer/invitation")
    _, raw = await MailSender(world.svc).compose(n)
    msg = message_from_bytes(raw, policy=policy.default)
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["Content-Language"] == "fr"
    text = msg.get_body(preferencelist=("plain",)).get_content()
    html = msg.get_body(preferencelist=("html",)).get_content()
    link = n.context["link"]
    assert link in text
    assert f'<a href="{link}" style="display:inline-block' in html  # the button
    assert "Ouvrir le document et signer" in html
    assert "Jean <Client>" in text  # Text from outside is escaped in the HTML part.
    assert "Jean &lt;Client&gt;" in html and "<Client>" not in html
    assert "<script" not in html and "<img" not in html and "<link" not in html
    assert "src=" not in html and "url(" not in html
    # The same words: every line of the text is in the HTML's text.
    words = _html_text(html).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    for line in text.splitlines():
        if line.strip() and line.strip() != "--":
            assert " ".join(line.split()) in words, line


async def test_a_reply_with_attachments_keeps_both_parts_beside_the_files(world):
    data = make_pdf(text="Facture")
    sha = (await world.svc.documents.put(data)).sha256
    n = await notifications.enqueue(
        channel="mail", template="sender/sealed", recipient="paul@example.test",
        context={"name": "Paul", "sealed": [{"filename": "f-scelle.pdf", "source": "f.pdf",
                                              "sha256": sha}],
                 "failed": [], "credit_left": 9, "cabinet": "dupre",
                 "cabinet_name": "Cabinet Dupré",
                 "command": "seal", "mail_domain": "paraphe.localhost"},
        attachments=[{"sha256": sha, "filename": "f-scelle.pdf"}], thread={"subject": "Re: x"})
    _, raw = await MailSender(world.svc).compose(n)
    msg = message_from_bytes(raw, policy=policy.default)
    assert msg.get_content_type() == "multipart/mixed"
    assert msg.get_body(preferencelist=("html",)) is not None
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "f-scelle.pdf" and attachment.get_content() == data
    assert "Ouvrir le document" not in msg.get_body(preferencelist=("html",)).get_content()
