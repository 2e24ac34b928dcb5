"""Signer pages and the terms of use: a refusal page while the cabinet has accepted no terms
in force at launch; a collection launched before a new version stays signable."""

from __future__ import annotations

from tests.terms import publish_new_version
from tests.web.signer_site import site  # noqa: F401 - fixture
from tests.workflows.collection_world import (  # noqa: F401 - fixtures
    link_of,
    pdf,
    world_settings,
)
from workflows import collections, terms
from workflows.collections import SignerSpec
from workflows.models import Notification, Signer, TermsAcceptance


async def _post(site, url, **form):
    return await site.session.post(url, data=form, allow_redirects=False)


async def _sign(site, email):
    link = await link_of(email)
    assert (await _post(site, link + "/code", channel="mail")).status == 303
    code = (await Notification.filter(recipient=email, template="signer/code")
            .order_by("-id").first()).context["code"]
    r = await _post(site, link + "/sign", code=code, consent="yes")
    assert r.status == 303, await r.text()


async def test_signer_refused_while_the_cabinet_has_no_terms_then_signs(site, tmp_path):
    w = site.world
    await collections.create_collection(
        w.svc, w.actor(w.expert), cabinet="dupre", documents=[("lettre.pdf", pdf())],
        signers=[SignerSpec("Client Un", "c1@example.test"),
                 SignerSpec("Client Deux", "c2@example.test")])
    # A database from before terms were enforced: the collection runs, nothing accepted.
    await TermsAcceptance.filter(cabinet_id=w.cabinet.id).delete()
    terms.forget_cache()
    link = await link_of("c1@example.test")
    r = await _post(site, link + "/code", channel="mail")
    body = await r.text()
    assert r.status == 403 and 'data-code="terms_not_accepted"' in body
    assert "son expert-comptable doit d&#39;abord accepter les conditions" in body or \
        "son expert-comptable doit d'abord accepter les conditions" in body
    assert "votre lien restera valable" in body
    r = await _post(site, link + "/code?lang=en", channel="mail")
    assert r.status == 403 and "must first accept Paraphe" in await r.text()
    assert not await Notification.exists(recipient="c1@example.test", template="signer/code")

    await terms.accept_terms(w.svc, w.actor(w.expert), "dupre", "2026-01")
    await _sign(site, "c1@example.test")
    # A new version comes into force: this collection, launched under accepted terms,
    # stays signable for its last signer.
    publish_new_version(w.svc.settings, tmp_path)
    await _sign(site, "c2@example.test")
    assert await Signer.filter(state="signed").count() == 2
