"""The registration page in real headless Chromium: every step's form, the identity document
chosen as a file, a refused file shown on the page, then the review and the certificate."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import require_tool
from tests.identity_images import png
from tests.registration import last_sms_code
from tests.web.signer_site import site  # noqa: F401 - fixture
from tests.workflows.collection_world import world_settings  # noqa: F401 - fixture
from workflows import registration_links, registration_review
from workflows.actors import Actor
from workflows.models import Registration

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


async def _step(page) -> str:
    return await page.get_attribute("#step", "data-step")


async def test_register_in_chromium(site, tmp_path):
    chromium = require_tool("chromium")
    from playwright.async_api import async_playwright

    svc, anne = site.world.svc, site.world.expert
    link = await registration_links.registration_link(svc.settings, anne)
    front, grey = tmp_path / "recto.png", tmp_path / "gris.png"
    front.write_bytes(png())
    grey.write_bytes(png(colour=False))
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            page = await browser.new_page(viewport={"width": 390, "height": 844},
                                          locale="fr-FR")
            assert (await page.goto(link)).status == 200
            await page.click("#start")
            assert await _step(page) == "identity"
            await page.click("#confirm")
            await page.fill("#phone", "06 12 34 56 02")
            await page.click("#send-code")
            assert await _step(page) == "mobile_code"
            await page.fill("#code", await last_sms_code(svc, "+33612345602"))
            await page.click("#verify")
            await page.check("#type-passport")
            await page.click("#choose")
            assert await _step(page) == "front"
            await page.set_input_files("#file", str(grey))
            async with page.expect_navigation() as nav:
                await page.click("#upload")
            assert (await nav.value).status == 422
            assert await page.get_attribute("#problem", "data-code") == (
                "identity_document_greyscale")
            await page.set_input_files("#file", str(front))
            await page.click("#upload")
            assert await _step(page) == "agreement"
            await page.click("#sign-agreement")
            await page.click("#accept")
            await page.click("#submit")
            assert await _step(page) == "review"
            await page.screenshot(path=str(ARTIFACTS / "registration-page-review.png"),
                                  full_page=True)
            reg = await Registration.get(person_id=anne.id)
            await registration_review.approve(svc, Actor.operator(), reg.id)
            await page.reload()
            assert await _step(page) == "done"
            await page.click("#certificate-link")
            assert await page.get_attribute("#certificate", "data-status") == "valid"
        finally:
            await browser.close()
    assert (ARTIFACTS / "registration-page-review.png").stat().st_size > 1000
