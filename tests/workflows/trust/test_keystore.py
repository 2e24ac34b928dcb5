"""The software keystore: keys encrypted at rest, a wrong master key fails clearly."""

from __future__ import annotations

import stat

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from paraphe.settings import Settings
from workflows.errors import KeyNotFoundError, KeystoreError, MasterKeyWrongError
from workflows.trust.keystore import SoftwareKeystore, open_keystore


def test_key_file_is_encrypted_and_private(settings):
    store = SoftwareKeystore(settings)
    public = store.generate("seal-test", "ec-p256")
    path = settings.home / "keys" / "seal-test.key"
    blob = path.read_bytes()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"-----BEGIN" not in blob and b"PRIVATE KEY" not in blob
    with pytest.raises(ValueError):
        serialization.load_der_private_key(blob, password=None)
    with pytest.raises(ValueError):
        serialization.load_pem_private_key(blob, password=None)
    # The raw private scalar is nowhere in the file.
    scalar = store.load("seal-test").private_numbers().private_value.to_bytes(32, "big")
    assert scalar not in blob
    # A fresh keystore (another process) decrypts it and signs with it.
    again = SoftwareKeystore(settings)
    signature = again.sign("seal-test", b"data")
    public.verify(signature, b"data", ec.ECDSA(hashes.SHA256()))


def test_rsa_keys(settings):
    store = open_keystore(settings)
    public = store.generate("rsa-test", "rsa-2048")
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 2048
    assert isinstance(SoftwareKeystore(settings).load("rsa-test"), rsa.RSAPrivateKey)


def test_generated_master_key_is_private(home):
    settings = Settings(home=home)
    settings.ensure_home()
    store = SoftwareKeystore(settings)
    store.generate("k1")
    master = home / "keys" / "master.key"
    assert stat.S_IMODE(master.stat().st_mode) == 0o600
    assert len(master.read_bytes()) == 32
    assert SoftwareKeystore(settings).load("k1") is not None


def test_wrong_master_key_fails_clearly(settings, home):
    SoftwareKeystore(settings).generate("k1")
    wrong = Settings(home=home, database_url=settings.database_url,
                     master_key="another-master-key-entirely")
    with pytest.raises(MasterKeyWrongError) as info:
        SoftwareKeystore(wrong)
    assert info.value.code == "master_key_wrong"
    assert "PARAPHE_MASTER_KEY" in info.value.message
    assert "another-master-key" not in info.value.message


def test_tampered_or_renamed_key_file_is_refused(settings):
    store = SoftwareKeystore(settings)
    store.generate("k1")
    keys = settings.home / "keys"
    (keys / "k2.key").write_bytes((keys / "k1.key").read_bytes())
    with pytest.raises(MasterKeyWrongError):
        SoftwareKeystore(settings).load("k2")
    blob = bytearray((keys / "k1.key").read_bytes())
    blob[-1] ^= 1
    (keys / "k1.key").write_bytes(bytes(blob))
    with pytest.raises(MasterKeyWrongError):
        SoftwareKeystore(settings).load("k1")


def test_names_are_checked(settings):
    store = SoftwareKeystore(settings)
    store.generate("k1")
    with pytest.raises(KeystoreError):
        store.generate("k1")
    for bad in ("../escape", "master", "", "a/b"):
        with pytest.raises(KeystoreError):
            store.generate(bad)
    with pytest.raises(KeyNotFoundError):
        store.load("missing")
    with pytest.raises(KeystoreError):
        store.generate("k3", "dsa-1024")
