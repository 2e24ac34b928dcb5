"""The registration page in real headless Chromium: every step's form, the identity document
chosen as a file, a refused file shown on the page, then the review and the certificate; at
desktop size and on a 390×844 phone, axe-core finding nothing serious at any step, and the
certificate page no wider than the phone."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.web.axe import assert_accessible
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
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


async def _step(page) -> str:
    step = await page.get_attribute("#step", "data-step")
    await assert_accessible(page, f"the registration step {step}")
    return step


@pytest.mark.parametrize("size", list(SIZES))
async def test_register_in_chromium(site, tmp_path, size):
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
            page = await browser.new_page(viewport=SIZES[size],
                                          locale="fr-FR")
            assert (await page.goto(link)).status == 200
            assert await _step(page) == "start"
            await page.click("#start")
            assert await _step(page) == "identity"
            await page.click("#confirm")
            assert await _step(page) == "mobile"
            await page.fill("#phone", "06 12 34 56 02")
            await page.click("#send-code")
            assert await _step(page) == "mobile_code"
            await page.fill("#code", await last_sms_code(svc, "+33612345602"))
            await page.click("#verify")
            assert await _step(page) == "document_type"
            await page.check("#type-passport")
            await page.click("#choose")
            assert await _step(page) == "front"
            await page.set_input_files("#file", str(grey))
            async with page.expect_navigation() as nav:
                await page.click("#upload")
            assert (await nav.value).status == 422
            assert await page.get_attribute("#problem", "data-code") == (
                "identity_document_greyscale")
            await assert_accessible(page, "a refused file")
            await page.set_input_files("#file", str(front))
            await page.click("#upload")
            assert await _step(page) == "agreement"
            await page.click("#sign-agreement")
            assert await _step(page) == "policies"
            await page.click("#accept")
            assert await _step(page) == "submit"
            await page.click("#submit")
            assert await _step(page) == "review"
            await page.screenshot(path=str(ARTIFACTS / f"registration-page-review-{size}.png"),
                                  full_page=True)
            reg = await Registration.get(person_id=anne.id)
            await registration_review.approve(svc, Actor.operator(), reg.id)
            await page.reload()
            assert await _step(page) == "done"
            await page.click("#certificate-link")
            assert await page.get_attribute("#certificate", "data-status") == "valid"
            await assert_accessible(page, "the certificate page")
            await page.screenshot(path=str(ARTIFACTS / f"registration-certificate-{size}.png"),
                                  full_page=True)
            # The serial and the names wrap: nothing wider than the screen.
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= await page.evaluate("innerWidth"), width
            # A broken link: the error page.
            await page.goto(link[:-4] + "zzzz")
            assert await page.get_attribute("#problem", "data-code")
            await assert_accessible(page, "the registration error page")
        finally:
            await browser.close()
    assert (ARTIFACTS / f"registration-page-review-{size}.png").stat().st_size > 1000
