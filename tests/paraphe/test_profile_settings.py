"""PARAPHE_POLICY_OID and PARAPHE_PLATFORM_SIREN are checked when the settings load."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from paraphe.settings import load_settings
from tests.cli import paraphe


def test_policy_oid_and_platform_siren(settings, monkeypatch):
    assert load_settings().policy_oid == "1.3.6.1.4.1.32473.1"  # RFC 5612's example PEN.
    assert load_settings().platform_siren is None
    monkeypatch.setenv("PARAPHE_POLICY_OID", " 1.3.6.1.4.1.99999.7 ")
    monkeypatch.setenv("PARAPHE_PLATFORM_SIREN", "732 829 320")
    loaded = load_settings()
    assert (loaded.policy_oid, loaded.platform_siren) == ("1.3.6.1.4.1.99999.7", "732829320")
    monkeypatch.setenv("PARAPHE_PLATFORM_SIREN", "123456789")
    with pytest.raises(ValidationError, match="checksum"):
        load_settings()
    monkeypatch.setenv("PARAPHE_PLATFORM_SIREN", "732829320")
    for bad in ("1.3.6.01", "3.1", "paraphe", "1."):
        monkeypatch.setenv("PARAPHE_POLICY_OID", bad)
        with pytest.raises(ValidationError, match="dotted object identifier"):
            load_settings()


def test_a_wrong_platform_siren_stops_the_cli_with_a_clear_reason(settings):
    (settings.home / "absent.toml").write_text('PARAPHE_PLATFORM_SIREN = "123456789"\n')
    result = paraphe(settings, "trust", "root")
    assert result.code == 2 and result.err.count("\n") == 1, result.err  # One line.
    assert "invalid setting platform_siren (PARAPHE_PLATFORM_SIREN)" in result.err
    assert "check digit" in result.err
