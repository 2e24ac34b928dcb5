"""Identity documents at rest: AES-256-GCM files under <home>/identity, never in clear on disk.

The data key is derived with HKDF-SHA256 from PARAPHE_MASTER_KEY when it is set (as the
software keystore derives its own), else it is 32 random bytes generated once into
<home>/keys/identity.key (mode 0600). Each file is bound to its name (the AEAD's
associated data), so a file renamed or swapped does not open.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from workflows.errors import KeystoreError, MasterKeyWrongError
from workflows.ports import CoreSettings
from workflows.trust.keystore import derived_key


_MAGIC = b"PRPID1"
_HKDF_SALT = b"paraphe/identity/v1"


def _data_key(settings: CoreSettings) -> bytes:
    return derived_key(settings, salt=_HKDF_SALT, info=b"identity documents",
                       fallback=Path(settings.home) / "keys" / "identity.key")


class IdentityVault:
    """Stores, reads and erases encrypted identity documents by an opaque reference."""

    def __init__(self, settings: CoreSettings) -> None:
        self.directory = Path(settings.home) / "identity"
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._aead = AESGCM(_data_key(settings))

    def path(self, ref: str) -> Path:
        if not ref.isalnum():
            raise KeystoreError("bad identity document reference")
        return self.directory / f"{ref}.bin"

    def put(self, data: bytes) -> str:
        """Encrypts and writes `data`; returns its reference."""
        ref = secrets.token_hex(16)
        nonce = secrets.token_bytes(12)
        blob = _MAGIC + nonce + self._aead.encrypt(nonce, data, ref.encode())
        tmp = self.directory / f".{ref}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path(ref))
        return ref

    def get(self, ref: str) -> bytes:
        """The clear bytes; raises FileNotFoundError when erased, MasterKeyWrongError."""
        blob = self.path(ref).read_bytes()
        if not blob.startswith(_MAGIC) or len(blob) < len(_MAGIC) + 28:
            raise KeystoreError("an identity document file is damaged")
        nonce = blob[len(_MAGIC):len(_MAGIC) + 12]
        try:
            return self._aead.decrypt(nonce, blob[len(_MAGIC) + 12:], ref.encode())
        except InvalidTag:
            raise MasterKeyWrongError("an identity document cannot be decrypted: wrong "
                                      "master key or damaged file") from None

    def erase(self, ref: str) -> None:
        """Removes the file; erasing twice is fine."""
        try:
            os.unlink(self.path(ref))
        except FileNotFoundError:
            pass
