"""`paraphe verify` and `paraphe trust root`, run as real processes on a sealed PDF."""

from __future__ import annotations

import pytest

from tests.cli import paraphe
from tests.pdfs import make_pdf
from workflows import clock
from workflows.models import Cabinet
from workflows.pdf.engine import SigningEngine
from workflows.trust.ca import TrustService


@pytest.fixture
async def sealed(db, settings, tmp_path):
    """A PDF sealed by a cabinet of this home's trust service, and the service."""
    trust = await TrustService.open(settings)
    cabinet = await Cabinet.create(slug="dupre", name="Cabinet Dupré", siren="552100554",
                                   created_at=clock.now())
    cert = await trust.seal_certificate_for(cabinet)
    engine = SigningEngine(settings, workers=1)
    try:
        data = await engine.sign(make_pdf(), await trust.signing_key(cert), reason="Cachet",
                                 bundle=await trust.validation_bundle([cert]))
    finally:
        engine.close()
    path = tmp_path / "lettre-scelle.pdf"
    path.write_bytes(data)
    return path, trust


def test_trust_root_prints_the_root_pem(sealed, settings):
    _, trust = sealed
    result = paraphe(settings, "trust", "root")
    assert result.code == 0, result.err
    assert result.out == trust.root_pem()
    assert result.out.startswith("-----BEGIN CERTIFICATE-----")


def test_verify_a_good_seal(sealed, settings):
    path, _ = sealed
    text = paraphe(settings, "verify", str(path))
    assert text.code == 0, text.err
    assert "lettre-scelle.pdf: VALID" in text.out
    assert "Cabinet Dupré" in text.out and "B-LTA" in text.out
    assert "revocation:      good" in text.out
    assert "EN 319 102-1:    PASSED" in text.out and "offline:         yes" in text.out
    assert "archive timestamps hold until 20" in text.out
    report = paraphe(settings, "verify", str(path), "--json")
    assert report.code == 0, report.err
    data = report.json()
    assert data["ok"] is True
    sig, stamp = data["signatures"]
    assert (sig["level"], sig["intact"], sig["trusted"]) == ("B-LTA", True, True)
    assert (sig["ades"], sig["ades_sub_indication"], sig["offline"]) == ("PASSED", None, True)
    assert stamp["type"] == "document_timestamp"
    assert data["archive_until"] > "2037"


def test_verify_flags_a_changed_byte_with_exit_1(sealed, settings, tmp_path):
    path, _ = sealed
    data = bytearray(path.read_bytes())
    data[data.find(b"Lettre de mission")] = ord("l")
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(bytes(data))
    text = paraphe(settings, "verify", str(tampered))
    assert text.code == 1, text.err
    assert "NOT VALID" in text.out and "the signed bytes were changed after signing" in text.out
    report = paraphe(settings, "verify", str(tampered), "--json")
    assert report.code == 1 and report.json()["signatures"][0]["intact"] is False
    sig = report.json()["signatures"][0]
    assert (sig["ades"], sig["ades_sub_indication"], sig["offline"]) == (
        "FAILED", "HASH_FAILURE", False)


def test_verify_an_unsigned_pdf_is_not_valid(db, settings, tmp_path):
    path = tmp_path / "plain.pdf"
    path.write_bytes(make_pdf())
    result = paraphe(settings, "verify", str(path))
    assert result.code == 1 and "no signature" in result.out


@pytest.mark.parametrize("content, fragment", [(b"hello, not a pdf", "not a PDF"),
                                               (None, "no such file")])
def test_verify_unreadable_input_exits_2_with_one_line(db, settings, tmp_path, content,
                                                       fragment):
    path = tmp_path / "input.pdf"
    if content is not None:
        path.write_bytes(content)
    result = paraphe(settings, "verify", str(path))
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0].lower() or fragment in lines[0], result.err
