"""Signer pages that once answered 500: a decline reason with NUL or a lone surrogate, a full
disk while signing, a bug; each gets its page, in French or English, with its status."""

from __future__ import annotations

import errno
import logging
import re

import pytest

from tests.web.signer_site import site  # noqa: F401 - fixture
from tests.workflows.collection_world import (  # noqa: F401 - fixtures
    code_of,
    link_of,
    pdf,
    world_settings,
)
from workflows import collections
from workflows.collections import SignerSpec
from workflows.models import Collection, Document, EvidenceEvent, Signer

# As a browser sends them: NUL percent-encoded; a lone surrogate as its (invalid) UTF-8 bytes.
BAD_REASONS = {"nul": "reason=Montant%00erron%C3%A9",
               "lone surrogate": "reason=Montant%ED%A0%80erron%C3%A9",
               "lone surrogate, multipart": None}


async def _create(site):
    w = site.world
    return await collections.create_collection(
        w.svc, w.actor(w.expert), cabinet="dupre", documents=[("lettre.pdf", pdf())],
        signers=[SignerSpec("Client Un", "c1@example.test")])


async def _decline(site, link, kind):
    if BAD_REASONS[kind] is not None:
        return await site.session.post(
            link + "/decline", data=BAD_REASONS[kind], allow_redirects=False,
            headers={"Content-Type": "application/x-www-form-urlencoded"})
    boundary = "paraphe-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"reason\"\r\n\r\n".encode()
            + b"Montant \xed\xa0\x80" + f"\r\n--{boundary}--\r\n".encode())
    return await site.session.post(
        link + "/decline", data=body, allow_redirects=False,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})


@pytest.mark.parametrize("kind", sorted(BAD_REASONS))
async def test_a_decline_reason_with_a_control_or_invalid_character_shows_the_page_again(
        site, kind):
    collection = await _create(site)
    link = await link_of("c1@example.test")
    r = await _decline(site, link, kind)
    page = await r.text()
    assert r.status == 422 and r.content_type == "text/html"
    assert 'data-code="text_invalid"' in page and "caractère de contrôle ou invalide" in page
    assert 'action="' in page  # The signer's page again: they can correct the reason.
    assert (await Signer.get(email="c1@example.test")).state == "pending"
    assert (await Collection.get(id=collection.id)).state == "in_progress"
    r = await site.session.post(link + "/decline", data={"reason": "Montant erroné"},
                                allow_redirects=False)
    assert r.status == 303


async def test_a_full_disk_while_signing_gives_a_507_page_and_signs_nothing(
        site, monkeypatch, caplog):
    collection = await _create(site)
    link = await link_of("c1@example.test")
    await site.session.post(link + "/code", data={"channel": "mail"}, allow_redirects=False)
    code = await code_of("c1@example.test")
    store = site.world.svc.documents

    async def disk_full(source, *args, **kwargs):
        source.unlink(missing_ok=True)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store, "adopt", disk_full)
    documents = await Document.all().count()
    with caplog.at_level(logging.ERROR, logger="paraphe.web"):
        r = await site.session.post(link + "/sign", data={"code": code, "consent": "yes"},
                                    allow_redirects=False, headers={"Accept-Language": "en"})
    page = await r.text()
    assert r.status == 507 and 'data-code="storage_full"' in page
    assert "short of storage" in page and "nothing was done or billed" in page
    error_id = re.search(r"Error reference: ([0-9a-f]{12})", page).group(1)
    assert error_id in caplog.text and "No space left on device" in caplog.text
    assert link.rsplit("/", 1)[1] not in caplog.text  # The link is a secret: never logged.
    assert (await Signer.get(email="c1@example.test")).state == "pending"
    assert await Document.all().count() == documents
    assert not await EvidenceEvent.filter(collection_id=collection.id,
                                          kind="signer.signed").exists()


async def test_an_unexpected_failure_gives_the_error_page_with_its_log_id(
        site, monkeypatch, caplog):
    await _create(site)
    link = await link_of("c1@example.test")

    async def broken(token):
        raise RuntimeError("a bug the signer must not read")

    monkeypatch.setattr(collections, "signer_view", broken)
    with caplog.at_level(logging.ERROR, logger="paraphe.web"):
        r = await site.session.get(link)
    page = await r.text()
    assert r.status == 500 and r.content_type == "text/html"
    assert 'data-code="internal_error"' in page and "Une erreur interne est survenue" in page
    assert "a bug" not in page and "Traceback" not in page
    error_id = re.search(r"Référence de l'erreur : ([0-9a-f]{12})", page).group(1)
    record = next(r for r in caplog.records if error_id in r.getMessage())
    assert record.exc_info is not None and "a bug the signer must not read" in caplog.text
    assert "GET /s/{token} failed" in caplog.text and link.rsplit("/", 1)[1] not in caplog.text
    assert r.headers["Cache-Control"] == "no-store"
