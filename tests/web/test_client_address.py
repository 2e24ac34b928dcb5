"""Behind the load balancers (PARAPHE_TRUSTED_PROXIES): the evidence log records the client's
address from X-Forwarded-For, believed only from a trusted proxy."""

from __future__ import annotations

from ipaddress import ip_network

import aiohttp
from aiohttp import web

from tests.web.signer_site import site  # noqa: F401 - fixture
from tests.workflows.collection_world import link_of, pdf, world_settings  # noqa: F401
from web.app import build_app
from web.client_address import client_address
from workflows import collections
from workflows.collections import SignerSpec
from workflows.models import EvidenceEvent

PROXIES = [ip_network("10.0.0.0/8"), ip_network("127.0.0.1/32")]


def test_the_client_is_the_right_most_address_no_proxy_of_ours_wrote():
    assert client_address("127.0.0.1", ["203.0.113.9"], PROXIES) == "203.0.113.9"
    # A chain: the client, then our own balancers; what the client wrote first is ignored.
    assert client_address("10.0.0.2", ["6.6.6.6, 203.0.113.9, 10.0.0.7"], PROXIES) \
        == "203.0.113.9"
    # The header from a peer that is not ours is not believed.
    assert client_address("198.51.100.4", ["203.0.113.9"], PROXIES) == "198.51.100.4"
    # No header, or garbage in it: the last address we can vouch for.
    assert client_address("127.0.0.1", [], PROXIES) == "127.0.0.1"
    assert client_address("10.0.0.2", ["not-an-ip, 10.0.0.7"], PROXIES) == "10.0.0.7"
    # An IPv4 client seen through an IPv6 socket, and no proxy configured at all.
    assert client_address("::ffff:127.0.0.1", ["2001:db8::5"], PROXIES) == "2001:db8::5"
    assert client_address("127.0.0.1", ["203.0.113.9"], []) == "127.0.0.1"


async def _opened_from(site, base: str, forwarded: str) -> str:
    w = site.world
    await collections.create_collection(
        w.svc, w.actor(w.expert), cabinet="dupre", documents=[("l.pdf", pdf())],
        signers=[SignerSpec("Client", f"c-{forwarded}@example.test")])
    link = await link_of(f"c-{forwarded}@example.test")
    path = link.split("/s/", 1)[1]
    async with aiohttp.ClientSession() as session, session.get(
            f"{base}/s/{path}", headers={"X-Forwarded-For": forwarded}) as r:
        assert r.status == 200
    event = await EvidenceEvent.filter(kind="signer.opened").order_by("-id").first()
    return event.data["origin"]["ip"]


async def test_the_evidence_log_records_the_forwarded_client_from_a_trusted_proxy(site):
    # Without trusted proxies (the site as the other tests run it): the header is ignored.
    assert await _opened_from(site, site.base, "203.0.113.9") == "127.0.0.1"
    svc = site.world.svc
    svc.settings.trusted_proxies = "127.0.0.1"
    runner = web.AppRunner(build_app(svc), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        assert await _opened_from(site, base, "203.0.113.10") == "203.0.113.10"
    finally:
        await runner.cleanup()
        svc.settings.trusted_proxies = ""
