"""Settings: SPEC §4 defaults, environment variables and paraphe.toml."""

import ipaddress
from pathlib import Path

import pytest
from pydantic import ValidationError

from paraphe.settings import Settings


def test_defaults(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for key in [k for k in __import__("os").environ if k.startswith("PARAPHE_")]:
        monkeypatch.delenv(key)
    s = Settings()
    assert s.home == Path("var")
    assert s.database_url == "sqlite://var/paraphe.sqlite3"
    assert (s.smtp_host, s.smtp_port) == ("127.0.0.1", 2525)
    assert s.mail_domain == "paraphe.localhost"
    assert s.smtp_relay is None and s.telegram_token is None and s.tsa_url is None
    assert (s.web_host, s.web_port) == ("127.0.0.1", 8080)
    assert s.public_url == "http://127.0.0.1:8080"
    assert s.pkcs11_module is None and s.trusted_authserv_id_list == []
    assert s.identity_retention_days == 90


def test_environment_and_toml(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for key in [k for k in __import__("os").environ if k.startswith("PARAPHE_")]:
        monkeypatch.delenv(key)
    (tmp_path / "paraphe.toml").write_text(
        'PARAPHE_WEB_PORT = 9090\nmail_domain = "cabinet.test"\n'
        'PARAPHE_TRUSTED_AUTHSERV_IDS = "mx.cabinet.test, mx2.cabinet.test"\n')
    monkeypatch.setenv("PARAPHE_WEB_PORT", "9191")
    monkeypatch.setenv("PARAPHE_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("PARAPHE_IDENTITY_RETENTION_DAYS", "30")
    s = Settings()
    assert s.identity_retention_days == 30
    assert s.web_port == 9191  # the environment wins over the file
    assert s.mail_domain == "cabinet.test"
    assert s.trusted_authserv_id_list == ["mx.cabinet.test", "mx2.cabinet.test"]
    assert s.database_url == f"sqlite://{tmp_path / 'h' / 'paraphe.sqlite3'}"
    s.ensure_home()
    assert (tmp_path / "h" / "outbox").is_dir()


def test_secrets_are_not_shown(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PARAPHE_TELEGRAM_TOKEN", "123:very-secret")
    monkeypatch.setenv("PARAPHE_MASTER_KEY", "master-secret")
    text = repr(Settings())
    assert "very-secret" not in text and "master-secret" not in text


def test_trusted_relays_are_addresses_and_networks(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for key in [k for k in __import__("os").environ if k.startswith("PARAPHE_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PARAPHE_TRUSTED_RELAYS", "192.0.2.10, 2001:db8::/32,10.1.2.3/8")
    assert Settings().trusted_relay_networks == [
        ipaddress.ip_network("192.0.2.10/32"), ipaddress.ip_network("2001:db8::/32"),
        ipaddress.ip_network("10.0.0.0/8")]
    monkeypatch.setenv("PARAPHE_TRUSTED_RELAYS", "192.0.2.10, mx.dupont.fr")
    with pytest.raises(ValidationError, match="not an IP address or CIDR network: 'mx.dupont.fr'"):
        Settings()
    monkeypatch.delenv("PARAPHE_TRUSTED_RELAYS")
    assert Settings().trusted_relay_networks == []


def test_timezone_defaults_to_paris_and_an_unknown_one_fails_at_start(monkeypatch, tmp_path):
    import pydantic
    import pytest

    monkeypatch.chdir(tmp_path)
    for key in [k for k in __import__("os").environ if k.startswith("PARAPHE_")]:
        monkeypatch.delenv(key)
    assert Settings().timezone == "Europe/Paris"
    monkeypatch.setenv("PARAPHE_TIMEZONE", "America/Montreal")
    assert Settings().timezone == "America/Montreal"
    monkeypatch.setenv("PARAPHE_TIMEZONE", "Europe/Atlantis")
    with pytest.raises(pydantic.ValidationError, match="unknown time zone"):
        Settings()


def test_telegram_webhook_url_is_https_or_loopback(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for key in [k for k in __import__("os").environ if k.startswith("PARAPHE_")]:
        monkeypatch.delenv(key)
    assert Settings().telegram_webhook_url is None and Settings().telegram_webhook_path is None
    assert Settings(telegram_webhook_url=" ").telegram_webhook_url is None
    for good in ("https://paraphe.example/telegram/webhook", "http://127.0.0.1:8080/tg",
                 "http://localhost:8080/tg", "http://[::1]:8080/tg",
                 "https://paraphe.example:8443/bot/updates"):
        s = Settings(telegram_webhook_url=good)
        assert s.telegram_webhook_url == good
    assert Settings(telegram_webhook_url="https://p.example/telegram/webhook"
                    ).telegram_webhook_path == "/telegram/webhook"
    for bad, why in (("http://paraphe.example/tg", "https URLs only"),
                     ("http://192.168.1.2/tg", "https URLs only"),
                     ("ftp://paraphe.example/tg", "not an https URL"),
                     ("https:///tg", "not an https URL"),
                     ("paraphe.example/tg", "not an https URL"),
                     ("https://paraphe.example", "a path of its own"),
                     ("https://paraphe.example/", "a path of its own"),
                     ("https://paraphe.example/tg?x=1", "a path of its own"),
                     ("https://u:p@paraphe.example/tg", "a path of its own")):
        with pytest.raises(ValidationError, match=why):
            Settings(telegram_webhook_url=bad)
    monkeypatch.setenv("PARAPHE_TELEGRAM_WEBHOOK_URL", "http://example.org/tg")
    with pytest.raises(ValidationError, match="PARAPHE_TELEGRAM_WEBHOOK_URL"):
        Settings()
