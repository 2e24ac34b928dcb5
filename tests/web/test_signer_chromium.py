"""The signer page in real headless Chromium, at desktop size and on a 390×844 phone: open the
link, ask for the code, type a wrong one, then the right one, consent, sign; the first of two
signers signs; another signer declines; a broken link. At each step axe-core finds nothing
serious, and the field to fill or the result is focused and on screen (no script: the pages'
`autofocus`)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.web.axe import assert_accessible
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
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}

# The focused element's id and whether its box lies within the viewport.
FOCUS = """() => {
  const e = document.activeElement, r = e.getBoundingClientRect();
  return [e.id, r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth];
}"""


async def assert_focused(page, element_id: str) -> None:
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    # Given a moment: on a phone the browser may still be scrolling the element into view.
    with contextlib.suppress(PlaywrightTimeout):
        await page.wait_for_function(
            f"() => {{ const [id, seen] = ({FOCUS})(); return id === {element_id!r} && seen; }}",
            timeout=5000)
    assert await page.evaluate(FOCUS) == [element_id, True], (element_id, page.url)


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


@pytest.mark.parametrize("size", list(SIZES))
async def test_sign_in_chromium(site, size):
    chromium = require_tool("chromium")
    from playwright.async_api import async_playwright

    w = site.world
    collection = await collections.create_collection(
        w.svc, w.actor(w.expert), cabinet="dupre", documents=[("mission.pdf", pdf())],
        signers=[SignerSpec("Camille Client", "camille@example.test")])
    await collections.create_collection(
        w.svc, w.actor(w.expert), cabinet="dupre", documents=[("devis.pdf", pdf())],
        signers=[SignerSpec("Dominique Client", "dominique@example.test")])
    await collections.create_collection(
        w.svc, w.actor(w.expert), cabinet="dupre", documents=[("bail.pdf", pdf())],
        signers=[SignerSpec("Eve Client", "eve@example.test"),
                 SignerSpec("Fanny Client", "fanny@example.test")])
    link = await link_of("camille@example.test")
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            page = await browser.new_page(viewport=SIZES[size], locale="fr-FR")
            response = await page.goto(link)
            assert response.status == 200
            await assert_accessible(page, "the signer page")
            await page.click("#send-mail")
            await page.wait_for_selector("#sent")
            assert await page.get_attribute("#sent", "role") == "status"
            await assert_focused(page, "code")
            await assert_accessible(page, "the code step")
            code = await code_of("camille@example.test")
            await page.fill("#code", _wrong(code))
            await page.check("#consent")
            await page.click("#sign")
            assert await page.get_attribute("#problem", "data-code") == "otp_invalid"
            assert await page.get_attribute("#problem", "role") == "alert"
            await assert_focused(page, "code")
            await assert_accessible(page, "a wrong code")
            await page.fill("#code", code)
            await page.check("#consent")
            await page.screenshot(path=str(ARTIFACTS / f"signer-page-before-sign-{size}.png"),
                                  full_page=True)
            await page.click("#sign")
            await page.wait_for_selector("#completed", timeout=60_000)
            await assert_focused(page, "completed")
            await assert_accessible(page, "the signed documents")
            await page.screenshot(path=str(ARTIFACTS / f"signer-page-signed-{size}.png"),
                                  full_page=True)
            # The first of two signers: signed, the others awaited.
            await page.goto(await link_of("eve@example.test"))
            await page.click("#send-mail")
            await page.fill("#code", await code_of("eve@example.test"))
            await page.check("#consent")
            await page.click("#sign")
            await page.wait_for_selector("#signed", timeout=60_000)
            await assert_focused(page, "signed")
            await assert_accessible(page, "signed, the others awaited")
            # Another signer declines.
            await page.goto(await link_of("dominique@example.test"))
            await page.click("summary")
            await page.fill("#reason", "Le montant est faux.")
            await page.click("#decline")
            await page.wait_for_selector("#declined")
            await assert_focused(page, "declined")
            await assert_accessible(page, "the decline confirmation")
            # A broken link: the error page.
            answer = await page.goto(link[:-4] + "zzzz")
            assert answer.status in (404, 410)
            await assert_accessible(page, "the error page")
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= SIZES[size]["width"], width
        finally:
            await browser.close()
    signer = await Signer.get(collection_id=collection.id)
    assert signer.state == "signed"
