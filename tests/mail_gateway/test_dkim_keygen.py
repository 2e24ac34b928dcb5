"""`paraphe dkim keygen|show`: the key is made and kept encrypted, the printed DNS record is the
one receivers need to check the mail that delivery then signs with it."""

from __future__ import annotations

import re

import dkim

from mail_gateway.delivery import Maildir
from tests.dispatching import mail_dispatcher
from tests.cli import paraphe
from workflows import notifications

ZONE_LINE = re.compile(r'^(?P<name>\S+) IN TXT (?P<strings>(?:"[^"]*" ?)+)$')


def _parse(line: str) -> tuple[str, list[str]]:
    """The name and the character-strings of a zone line, as a DNS server would read them."""
    match = ZONE_LINE.match(line.strip())
    assert match, line
    return match["name"], re.findall(r'"([^"]*)"', match["strings"])


def _dns_from(name: str, value: str):
    """dkimpy's dnsfunc, answering only the published record."""
    def lookup(qname: bytes, timeout: float = 5) -> bytes:
        return value.encode() if qname.decode().lower() == name.lower() else b""
    return lookup


async def _send_one(svc, settings) -> bytes:
    await notifications.enqueue(channel="mail", template="sender/refused",
                                recipient="paul@dupont.fr", language="fr",
                                context={"name": "Paul", "command": "seal",
                                         "mail_domain": settings.mail_domain,
                                         "cause": {"code": "document_missing"},
                                         "cabinets": ["dupont"]},
                                thread={"subject": "Bilan",
                                        "from": f"seal@{settings.mail_domain}"})
    assert await mail_dispatcher(svc).run_once() == 1
    (path,) = Maildir(settings.home / "outbox").messages()
    return path.read_bytes()


async def test_keygen_prints_the_record_that_verifies_the_mail_delivery_signs(svc, settings):
    made = paraphe(settings, "dkim", "keygen", "--bits", "3072")
    assert made.code == 0, made.err
    name, strings = _parse(made.out)
    assert name == "paraphe._domainkey.paraphe.localhost."
    assert len(strings) > 1 and all(len(s) <= 255 for s in strings)
    value = "".join(strings)
    assert value.startswith("v=DKIM1; k=rsa; p=")
    # Kept encrypted: the key file is no PEM and holds no DER of an RSA key in clear.
    stored = (settings.home / "keys" / "dkim-paraphe.key").read_bytes()
    assert b"PRIVATE KEY" not in stored and not stored.startswith(b"0\x82")
    assert (settings.home / "keys" / "dkim-paraphe.key").stat().st_mode & 0o077 == 0

    raw = await _send_one(svc, settings)
    # The Maildir keeps the envelope's Return-Path on top, as a delivering MTA writes it.
    assert raw.startswith(b"Return-Path: <bounce+")
    assert raw.split(b"\n", 1)[1].startswith(b"DKIM-Signature:") and b"s=paraphe;" in raw
    assert dkim.verify(raw, dnsfunc=_dns_from(name, value))
    # Another key's record does not verify it.
    other = paraphe(settings, "dkim", "keygen", "--selector", "other", "--json")
    assert other.code == 0, other.err
    assert "PARAPHE_DKIM_SELECTOR=other" in other.err
    assert not dkim.verify(raw, dnsfunc=_dns_from(name, other.json()["value"]))

    shown = paraphe(settings, "dkim", "show", "--json")
    assert shown.code == 0 and shown.json() == {
        "selector": "paraphe", "domain": "paraphe.localhost",
        "name": "paraphe._domainkey.paraphe.localhost.", "value": value}


async def test_keygen_refuses_to_replace_a_key_without_force(settings, db):
    first = paraphe(settings, "dkim", "keygen", "--json")
    assert first.code == 0, first.err
    again = paraphe(settings, "dkim", "keygen")
    assert again.code == 2 and again.out == ""
    assert again.err.count("\n") == 1 and "already exists" in again.err and "--force" in again.err
    assert paraphe(settings, "dkim", "show", "--json").json() == first.json()

    forced = paraphe(settings, "dkim", "keygen", "--force", "--json")
    assert forced.code == 0, forced.err
    assert forced.json()["value"] != first.json()["value"]
    assert paraphe(settings, "dkim", "show", "--json").json() == forced.json()


async def test_bad_input_is_refused_in_one_line(settings, db):
    for args, reason in ((("keygen", "--bits", "1024"), "--bits must be one of"),
                         (("keygen", "--selector", "a.b_c"), "invalid DKIM selector"),
                         (("show",), "run `paraphe dkim keygen`")):
        result = paraphe(settings, "dkim", *args)
        assert result.code == 2 and result.out == "", args
        assert result.err.count("\n") == 1 and reason in result.err, result.err
