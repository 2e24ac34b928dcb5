"""The signer page in real headless Chromium: open the link, ask for the code, type it, consent,
sign."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import require_tool
from tests.web.signer_site import site  # noqa: F401 - fixture
from tests.workflows.collection_world import (  # noqa: F401 - fixtures
    code_of,
    link_of,
    pdf,
    world_settings,
)
from workflows import collections
from workflows.collections import SignerSpec
from workflows.models import Signer

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


async def test_sign_in_chromium(site):
    chromium = require_tool("chromium")
    from playwright.async_api import async_playwright

    w = site.world
    collection = await collections.create_collection(
        w.svc, w.actor(w.expert), cabinet="dupre", documents=[("mission.pdf", pdf())],
        signers=[SignerSpec("Camille Client", "camille@example.test")])
    link = await link_of("camille@example.test")
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            # A phone-sized viewport: the page must work there.
            page = await browser.new_page(viewport={"width": 390, "height": 844},
                                          locale="fr-FR")
            response = await page.goto(link)
            assert response.status == 200
            await page.click("#send-mail")
            await page.wait_for_selector("#sent")
            await page.fill("#code", await code_of("camille@example.test"))
            await page.check("#consent")
            await page.screenshot(path=str(ARTIFACTS / "signer-page-before-sign.png"),
                                  full_page=True)
            await page.click("#sign")
            await page.wait_for_selector("#completed", timeout=60_000)
            await page.screenshot(path=str(ARTIFACTS / "signer-page-signed.png"), full_page=True)
        finally:
            await browser.close()
    signer = await Signer.get(collection_id=collection.id)
    assert signer.state == "signed"
    assert (ARTIFACTS / "signer-page-signed.png").stat().st_size > 1000
