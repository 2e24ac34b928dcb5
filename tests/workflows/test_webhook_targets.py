"""Webhook URLs that reach loopback, link-local, private, multicast or reserved addresses are
refused."""

from __future__ import annotations

import pytest

from tests.cli import paraphe
from tests.fakes.dns import FakeHosts
from workflows import people, webhooks
from workflows.actors import Actor
from workflows.errors import WebhookTargetForbiddenError
from workflows.models import WebhookEndpoint
from workflows.webhook_secrets import SecretBox
from workflows.webhook_targets import WebhookTargets

# Each URL, and the range its address is in, however the address is spelt.
PRIVATE_TARGETS = [
    ("http://127.0.0.1:5432/", "loopback"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[::1]/hook", "loopback"),
    ("http://2130706433/", "loopback"),  # 127.0.0.1 in decimal
    ("http://0x7f.1/", "loopback"),  # in hexadecimal, short form
    ("http://0177.0.0.1/", "loopback"),  # in octal
    ("http://017700000001/", "loopback"),
    ("http://127.1:8080/", "loopback"),
    ("http://localhost:2525/", "loopback"),
    ("http://[::ffff:127.0.0.1]/", "loopback"),  # IPv4-mapped IPv6
    ("http://[::ffff:a9fe:a9fe]/", "link-local"),  # 169.254.169.254, mapped
    ("http://[64:ff9b::7f00:1]/", "loopback"),  # NAT64 of 127.0.0.1
    ("http://[2002:a00:1::]/", "private"),  # 6to4 of 10.0.0.1
    ("http://[fe80::1]/", "link-local"),
    ("http://10.1.2.3/", "private"),
    ("http://172.16.0.1/", "private"),
    ("https://192.168.1.1/", "private"),
    ("http://[fd12:3456::1]/", "private"),  # unique local
    ("http://100.64.0.1/", "non-public"),  # shared address space (carrier NAT)
    ("http://224.0.0.1/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://0.0.0.0:8080/", "unspecified"),
    ("http://[::]/", "unspecified"),
    ("http://240.0.0.1/", "reserved"),
    ("http://255.255.255.255/", "reserved"),
]


@pytest.fixture
async def cabinet(db):
    return await people.create_cabinet(Actor.operator(), slug="alpha", name="Alpha")


async def _add(settings, url, targets):
    return await webhooks.add_endpoint(Actor.operator(), cabinet="alpha", url=url,
                                       box=SecretBox(settings), targets=targets)


async def test_each_private_target_refused_when_added(settings, cabinet):
    targets = WebhookTargets.from_settings(settings)
    for url, kind in PRIVATE_TARGETS:  # One database for all: a migration per case is slow.
        with pytest.raises(WebhookTargetForbiddenError) as refused:
            await _add(settings, url, targets)
        assert refused.value.code == "webhook_target_forbidden", url
        assert refused.value.details["range"] == kind, url
        assert f"a {kind} address" in refused.value.message, url
    assert await WebhookEndpoint.all().count() == 0


async def test_a_name_is_judged_by_every_address_it_resolves_to(settings, cabinet):
    dns = FakeHosts()
    dns.set("erp.example", "93.184.216.34", "10.0.0.7")  # One private address is enough.
    dns.set("ok.example", "93.184.216.34", "2606:4700::1111")
    targets = WebhookTargets.from_settings(settings, dns)
    with pytest.raises(WebhookTargetForbiddenError) as refused:
        await _add(settings, "https://erp.example/hooks", targets)
    assert "erp.example resolves to 10.0.0.7, which is a private address" in refused.value.message
    created = await _add(settings, "https://ok.example/hooks", targets)
    assert created.endpoint.url == "https://ok.example/hooks"
    # Public literals pass, and a name that does not resolve yet is checked at delivery.
    await _add(settings, "https://93.184.216.34/hooks", targets)
    await _add(settings, "https://[2606:4700::1111]/hooks", targets)
    await _add(settings, "https://not-yet.invalid/hooks", targets)
    assert await WebhookEndpoint.all().count() == 4


async def test_allow_private_accepts_them(settings, cabinet):
    allowed = settings.model_copy(update={"webhook_allow_private": True})
    for url, _ in PRIVATE_TARGETS[:5]:
        await _add(settings, url, WebhookTargets.from_settings(allowed))
    assert await WebhookEndpoint.all().count() == 5


def test_cli_refuses_private_targets_with_a_clear_reason(settings):
    assert paraphe(settings, "cabinet", "add", "gamma", "--name", "Gamma").code == 0
    for url, kind in (("http://2130706433/", "loopback"), ("http://[::1]/", "loopback"),
                      ("http://169.254.169.254/", "link-local")):
        out = paraphe(settings, "webhook", "add", "gamma", url)
        assert out.code == 1 and out.out == ""
        [line] = out.err.splitlines()
        assert f"a {kind} address" in line and "(webhook_target_forbidden)" in line
        assert "PARAPHE_WEBHOOK_ALLOW_PRIVATE" in line
    assert paraphe(settings, "webhook", "list", "gamma", "--json").json() == []
