"""collect@ with 8-bit text and no declared charset (swaks, many clients): the signer's name is
read right, and they sign."""

from __future__ import annotations

import pytest

from tests.mail_gateway.hostile import message
from tests.mail_gateway.mailer import body_text, send, wait_outbox
from tests.pdfs import make_pdf
from tests.workflows.collection_world import code_of, link_of
from workflows.models import Collection, Signer


@pytest.mark.parametrize("charset", ["cp1252", "utf-8"])
async def test_undeclared_8bit_collect_body_names_the_signer_right_and_they_sign(
        gateway, firm, settings, svc, web_site, charset):
    body = "Bonjour,\r\n\r\nJérôme Bédé-Œuvré <jerome@client.fr>\r\n".encode(charset)
    data = message(to=b"collect@paraphe.localhost", subject="[dupont] Mission été".encode(charset),
                   message_id=b"<c8@dupont.fr>", body=body, pdf=make_pdf(text="Mission"))
    await send(gateway.port, data, mail_from="claire@dupont.fr",
               rcpts=f"collect+{firm.secret(firm.claire)}+dupont@paraphe.localhost")

    messages = await wait_outbox(settings.home, 2)
    reply = next(m for m in messages if m["To"] == "claire@dupont.fr")
    assert reply["Subject"] == "Re: [dupont] Mission été"
    assert "Jérôme Bédé-Œuvré" in body_text(reply)
    signer = await Signer.get(email="jerome@client.fr")
    assert signer.name == "Jérôme Bédé-Œuvré"

    link = await link_of("jerome@client.fr")
    response = await web_site.post(link + "/code", data={"channel": "mail"},
                                   allow_redirects=False)
    assert response.status == 303
    response = await web_site.post(link + "/sign", data={
        "code": await code_of("jerome@client.fr"), "consent": "yes"}, allow_redirects=False)
    assert response.status == 303, await response.text()
    collection = await Collection.get(id=signer.collection_id)
    assert collection.state == "completed"

    from workflows.pdf.verify import verify_pdf

    signed = await (await web_site.get(link + "/documents/1")).read()
    report = await verify_pdf(signed, trust_roots=svc.trust.trust_roots())
    assert report["ok"], report
    assert "Jérôme Bédé-Œuvré" in [s.get("signer") for s in report["signatures"]]


async def test_a_collect_line_whose_name_cannot_be_a_signer_is_listed_back(
        gateway, firm, settings):
    long_name = "Jean " + "x" * 200
    body = f"Marie Client <marie@client.fr>\r\n{long_name} <jean@client.fr>\r\n".encode()
    data = message(to=b"collect@paraphe.localhost", subject=b"[dupont] Mission", body=body,
                   pdf=make_pdf(text="Mission"))
    await send(gateway.port, data, mail_from="claire@dupont.fr",
               rcpts=f"collect+{firm.secret(firm.claire)}+dupont@paraphe.localhost")
    (reply,) = await wait_outbox(settings.home, 1)
    text = body_text(reply)
    assert "ces lignes n'ont pas pu être lues" in text and f"{long_name} <jean@client.fr>" in text
    assert "marie@client.fr" not in text.split("lues")[1].split("Écrivez")[0]
    assert await Collection.all().count() == 0
