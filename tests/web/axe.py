"""axe-core run inside a Chromium page: the script that axe-playwright-python ships
(tests' extra), injected into the page, then `axe.run()`; what a screen-reader or keyboard user
would hit hardest (impact `serious` or `critical`) fails the test, listed rule by rule."""

from __future__ import annotations

import importlib.resources

import pytest

from tests.conftest import IN_CI

BLOCKING = ("serious", "critical")
_script: str | None = None


def axe_script() -> str:
    """axe.min.js; missing, it fails in CI and skips elsewhere (as require_tool does)."""
    global _script
    if _script is None:
        try:
            _script = (importlib.resources.files("axe_playwright_python")
                       / "axe.min.js").read_text(encoding="utf-8")
        except ModuleNotFoundError:
            if IN_CI:
                pytest.fail("axe-core (axe-playwright-python) is required in CI; "
                            "run `make install-test`")
            pytest.skip("axe-core (axe-playwright-python) is not installed")
    return _script


def blocking(results: dict) -> list[str]:
    """One line per serious or critical violation: rule id, impact, the elements it found."""
    return [f"{v['id']} ({v['impact']}): "
            + "; ".join(" ".join(node["target"]) for node in v["nodes"])
            for v in results["violations"] if v.get("impact") in BLOCKING]


async def assert_accessible(page, where: str) -> None:
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated through the debugging protocol: the pages' CSP allows no inline script.
        await page.evaluate(axe_script())
    results = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    found = blocking(results)
    assert not found, f"axe on {where} ({page.url}):\n  " + "\n  ".join(found)
