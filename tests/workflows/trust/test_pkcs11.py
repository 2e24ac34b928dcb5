"""The PKCS#11 keystore against SoftHSM2: keys made in the token sign a trusted PDF seal."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pydantic import SecretStr
from pyhanko.sign.pkcs11 import PKCS11Signer

from tests.conftest import require_tool
from tests.pdfs import make_pdf
from tests.workflows.trust.blt import assert_trusted_blt, sign_blt
from workflows.trust.ca import TrustService
from workflows.trust.keystore import Pkcs11Keystore
from workflows.trust.signers import load_signer

MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")
LABEL, PIN, SO_PIN = "paraphe-test", "1234", "5678"


@pytest.fixture
def softhsm(tmp_path, monkeypatch):
    """A private SoftHSM2 token directory and configuration for this test."""
    util = require_tool("softhsm2-util")
    if not MODULE.exists():
        pytest.fail(f"{MODULE} is missing although softhsm2-util is installed")
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\n"
                    "log.level = ERROR\n")
    monkeypatch.setenv("SOFTHSM2_CONF", str(conf))
    subprocess.run([util, "--init-token", "--free", "--label", LABEL, "--pin", PIN,
                    "--so-pin", SO_PIN], check=True, capture_output=True)
    return tokens


async def test_seal_with_keys_inside_softhsm(softhsm, db, settings, cabinet):
    settings = settings.model_copy(update={
        "pkcs11_module": str(MODULE), "pkcs11_token_label": LABEL, "pkcs11_pin": SecretStr(PIN)})
    trust = await TrustService.open(settings)
    assert isinstance(trust.keystore, Pkcs11Keystore)
    # Every key of the PKI is in the token: nothing was written under PARAPHE_HOME/keys.
    assert not list((settings.home / "keys").glob("*.key"))

    row = await trust.seal_certificate_for(cabinet)
    key = await trust.signing_key(row)
    assert key.keystore == "pkcs11"
    handle = trust.keystore.load(key.key_ref)
    from pkcs11 import Attribute

    assert handle[Attribute.SENSITIVE] and not handle[Attribute.EXTRACTABLE]

    signer = load_signer(settings, key)
    assert isinstance(signer, PKCS11Signer)
    bundle = await trust.validation_bundle([row], after_signing=False)
    signed = await sign_blt(settings, key, bundle, make_pdf(), trust.trust_roots())
    await assert_trusted_blt(trust, bundle, signed)

    # The PKI comes back from the token on the next start.
    again = await TrustService.open(settings)
    assert again.root_pem() == trust.root_pem()
