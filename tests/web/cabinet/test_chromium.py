"""The cabinet space walked in Chromium, at desktop size and on a 390×844 phone: an expert
signs in with the code read from the Maildir outbox, invites a collaborator, grants `seal`,
accepts the terms, approves a prepared collection and downloads its evidence certificate,
creates and revokes an API key; the collaborator then sees only what `seal` allows; a
forged form without the CSRF token is refused. On every page axe-core finds nothing serious;
at the sign-in's code step (asked, then a wrong code) the code field is focused and on
screen."""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path

import pytest

from tests.dispatching import mail_dispatcher
from tests.conftest import require_tool
from tests.web.axe import assert_accessible
from tests.web.cabinet.browser import last_sign_in
from tests.web.test_signer_chromium import assert_focused
from tests.workflows.collection_world import pdf
from workflows import apikeys, collections, people
from workflows.actors import Actor
from workflows.collections import SignerSpec
from workflows.errors import ApiKeyRevokedError
from workflows.models import Collection

ARTIFACTS = Path(__file__).resolve().parent.parent.parent / "artifacts"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
# What sticks out past the screen's right edge, to say why a page is too wide.
WIDER = """[...document.querySelectorAll('*')]
  .filter(e => e.getBoundingClientRect().right > innerWidth)
  .map(e => `${e.tagName}#${e.id}.${e.className}`).slice(0, 8)"""
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


async def _code_from_maildir(svc, address: str) -> str:
    """The sign-in code of the newest mail to `address`, delivered by the real dispatcher."""
    worker = mail_dispatcher(svc)
    while await worker.run_once():
        pass
    newest = None
    for path in sorted((svc.settings.home / "outbox" / "new").iterdir(),
                       key=lambda p: p.stat().st_mtime_ns):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if address in str(message["To"]) and "code" in str(message["Subject"]).lower():
            newest = message
    assert newest is not None, f"no sign-in mail to {address}"
    body = newest.get_body(("plain",)).get_content()
    return re.search(r"^\s+(\d{6})\s*$", body, re.M).group(1)


async def _sign_in(page, svc, base: str, address: str) -> None:
    await page.goto(f"{base}/c/")
    await assert_accessible(page, "the sign-in page")
    await page.get_by_label("Votre adresse e-mail").fill(address)
    await page.get_by_role("button", name="Recevoir un code").click()
    assert await page.locator("#asked").is_visible()
    await assert_focused(page, "code")
    await assert_accessible(page, "the sign-in code step")
    code = await _code_from_maildir(svc, address)
    await page.get_by_label("Code reçu par courriel").fill(f"{(int(code) + 1) % 1_000_000:06d}")
    await page.get_by_role("button", name="Se connecter").click()
    assert await page.get_attribute("#problem", "role") == "alert"
    await assert_focused(page, "code")
    await assert_accessible(page, "a wrong sign-in code")
    await page.get_by_label("Code reçu par courriel").fill(code)
    await page.get_by_role("button", name="Se connecter").click()
    await page.get_by_role("heading", name="Mes cabinets").wait_for()
    await assert_accessible(page, "the home page")


@pytest.mark.parametrize("size", list(SIZES))
async def test_cabinet_space_in_chromium(site, size):
    chromium = require_tool("chromium")
    from playwright.async_api import async_playwright

    world, base = site.world, site.base
    svc = world.svc
    await people.create_cabinet(Actor.operator(), slug="neuf", name="Cabinet Neuf")
    await people.add_person(Actor.operator(), email="expert@dupre.test", name="Anne Dupré",
                            cabinet="neuf", role="expert")
    prepared = await collections.create_collection(
        svc, world.actor(world.preparer), cabinet="dupre", documents=[("lettre.pdf", pdf())],
        signers=[SignerSpec("Client Un", "client1@example.test")], title="Lettre de mission")
    assert prepared.state == "awaiting_approval"
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            expert = await browser.new_context(viewport=SIZES[size], locale="fr-FR",
                                               accept_downloads=True)
            page = await expert.new_page()
            await _sign_in(page, svc, base, "expert@dupre.test")
            # Invite a collaborator, grant `seal`.
            await page.get_by_role("link", name="Cabinet Dupré").click()
            await assert_accessible(page, "the cabinet page")
            await page.get_by_role("link", name="Membres et délégations").click()
            await assert_accessible(page, "the members page")
            await page.get_by_label("Adresse e-mail").fill("claire@dupre.test")
            await page.get_by_label("Nom", exact=True).fill("Claire Collab")
            await page.get_by_role("button", name="Inviter").click()
            assert await page.get_attribute("#done", "data-done") == "invited"
            await page.get_by_role("button", name="Accorder sceller à Claire Collab").click()
            assert await page.get_attribute("#done", "data-done") == "granted"
            await assert_accessible(page, "a delegation granted")
            await page.screenshot(path=str(ARTIFACTS / f"cabinet-members-{size}.png"),
                                  full_page=True)
            # Accept the terms of the new cabinet.
            await page.goto(f"{base}/c/neuf/terms")
            await page.get_by_role("button",
                                   name="J'accepte les conditions pour le cabinet").click()
            assert await page.get_attribute("#done", "data-done") == "accepted"
            assert await page.locator("#terms-accepted").is_visible()
            await assert_accessible(page, "the terms page")
            # Approve the prepared collection; once cancelled, its certificate downloads.
            await page.goto(f"{base}/c/dupre/collections?state=awaiting_approval")
            await assert_accessible(page, "the collections page")
            card = page.locator(f'[data-collection="{prepared.id}"]')
            await card.get_by_role("button", name="Approuver").click()
            assert await page.get_attribute("#done", "data-done") == "approve"
            assert (await Collection.get(id=prepared.id)).state == "in_progress"
            card = page.locator(f'[data-collection="{prepared.id}"]')
            await card.get_by_role("button", name="Annuler").click()
            card = page.locator(f'[data-collection="{prepared.id}"]')
            async with page.expect_download() as info:
                await card.get_by_role("link", name="Certificat de preuve (PDF)").click()
            download = await info.value
            saved = Path(await download.path()).read_bytes()
            assert saved[:5] == b"%PDF-"
            # An API key, shown once, then revoked.
            await page.goto(f"{base}/c/dupre/keys")
            await page.get_by_label("Nom du logiciel qui l'utilise").fill("Compta Pro")
            await page.get_by_role("button", name="Créer la clé").click()
            token = (await page.text_content("#key-token")).strip()
            await assert_accessible(page, "the keys page")
            assert (await apikeys.authenticate(token)).name == "Compta Pro"
            await page.screenshot(path=str(ARTIFACTS / f"cabinet-keys-{size}.png"),
                                  full_page=True)
            await page.get_by_role("button", name="Révoquer la clé Compta Pro").click()
            assert await page.get_attribute("#done", "data-done") == "key_revoked"
            with pytest.raises(ApiKeyRevokedError):
                await apikeys.authenticate(token)
            for section in ("credit", "seals", "webhooks"):
                await page.goto(f"{base}/c/dupre/{section}")
                await assert_accessible(page, f"the {section} page")
            await page.get_by_role("link", name="Mes sessions").click()
            await assert_accessible(page, "the sessions page")
            # A forged post (the session's cookie, no CSRF token) is refused.
            forged = await page.request.post(f"{base}/c/dupre/members/invite",
                                              form={"email": "x@evil.test", "name": "X"})
            assert forged.status == 403 and "jeton de sécurité" in await forged.text()
            # The sign-in link of the mail: its confirmation page.
            linked = await (await browser.new_context(viewport=SIZES[size],
                                                      locale="fr-FR")).new_page()
            await linked.goto(f"{base}/c/login")
            await linked.get_by_label("Votre adresse e-mail").fill("expert@dupre.test")
            await linked.get_by_role("button", name="Recevoir un code").click()
            await linked.goto((await last_sign_in("expert@dupre.test")).context["link"])
            await linked.get_by_role("button", name="Me connecter").wait_for()
            await assert_accessible(linked, "the sign-in link page")
            # The collaborator: what `seal` allows, and no expert page.
            collab = await browser.new_context(viewport=SIZES[size], locale="fr-FR")
            mine = await collab.new_page()
            await _sign_in(mine, svc, base, "claire@dupre.test")
            await mine.get_by_role("link", name="Cabinet Dupré").click()
            assert await mine.get_attribute('[data-right="seal"]', "data-held") == "yes"
            assert await mine.get_attribute('[data-right="sign"]', "data-held") == "no"
            assert await mine.get_by_role("link", name="Clés d'API").count() == 0
            await mine.screenshot(path=str(ARTIFACTS / f"cabinet-collaborator-{size}.png"),
                                  full_page=True)
            answer = await mine.goto(f"{base}/c/dupre/keys")
            assert answer.status == 403
            assert await mine.get_attribute("#problem", "data-code") == "expert_required"
            await assert_accessible(mine, "the error page")
            # The layout fits the phone: nothing wider than the screen.
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= SIZES[size]["width"] + 1, (width, await page.evaluate(WIDER))
        finally:
            await browser.close()
