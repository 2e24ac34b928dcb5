"""The real web app (signer pages + trust endpoints) served at the settings' public URL."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

import aiohttp
import pytest

from tests.workflows.collection_world import World, make_services, seed


@dataclass
class Site:
    world: World
    base: str
    session: aiohttp.ClientSession


@pytest.fixture
async def site(db, world_settings):
    from web.app import build_app

    svc = await make_services(world_settings)
    world = await seed(svc)
    url = urllib.parse.urlsplit(world_settings.public_url)
    runner = aiohttp.web.AppRunner(build_app(svc), access_log=None)
    await runner.setup()
    await aiohttp.web.TCPSite(runner, url.hostname, url.port).start()
    session = aiohttp.ClientSession()
    try:
        yield Site(world, world_settings.public_url, session)
    finally:
        await session.close()
        await runner.cleanup()
        svc.engine.close()
