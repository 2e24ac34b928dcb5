"""The cabinet space's fixtures: the real app on loopback (tests/web/signer_site.py) and a
browser-like client signed in or not."""

from __future__ import annotations

import pytest

from tests.web.cabinet.browser import Browser
from tests.web.signer_site import site  # noqa: F401 - fixture
from tests.workflows.collection_world import world_settings  # noqa: F401 - fixture


@pytest.fixture
async def browser(site):  # noqa: F811
    made = []

    def open_one(**kw) -> Browser:
        b = Browser(site.base, **kw)
        made.append(b)
        return b
    try:
        yield open_one
    finally:
        for b in made:
            await b.close()
