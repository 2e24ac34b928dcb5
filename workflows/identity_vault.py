"""Identity documents at rest: AES-256-GCM files under <home>/identity, never in clear on disk;
on PostgreSQL the same encrypted bytes in `identity_blob` instead, so that the operator's
review on any instance reads what another instance received, and the retention sweep, run by
one instance, erases them for all (no copy is left on another instance's disk).

The data key is derived with HKDF-SHA256 from PARAPHE_MASTER_KEY when it is set (as the
software keystore derives its own), else it is 32 random bytes generated once into
<home>/keys/identity.key (mode 0600). Each file is bound to its name (the AEAD's
associated data), so a file renamed or swapped does not open.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from workflows import clock
from workflows.errors import KeystoreError, MasterKeyWrongError
from workflows.models import IdentityBlob
from workflows.ports import CoreSettings
from workflows.shared_state import is_postgres
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
        self.shared = is_postgres(settings.database_url)

    def path(self, ref: str) -> Path:
        if not ref.isalnum():
            raise KeystoreError("bad identity document reference")
        return self.directory / f"{ref}.bin"

    async def store(self, data: bytes) -> str:
        """Encrypts and keeps `data` (a file; a row when shared); returns its reference."""
        loop = asyncio.get_running_loop()
        if not self.shared:
            return await loop.run_in_executor(None, self.put, data)
        ref = secrets.token_hex(16)
        blob = await loop.run_in_executor(None, self._seal, ref, data)
        await IdentityBlob.create(ref=ref, blob=blob, created_at=clock.now())
        return ref

    async def load(self, ref: str) -> bytes:
        """The clear bytes; raises FileNotFoundError when erased, MasterKeyWrongError."""
        loop = asyncio.get_running_loop()
        row = await IdentityBlob.get_or_none(ref=ref) if self.shared else None
        if row is not None:
            return await loop.run_in_executor(None, self._open, ref, bytes(row.blob))
        # A file: SQLite, or a document received before the instances shared them.
        return await loop.run_in_executor(None, self.get, ref)

    async def remove(self, ref: str) -> None:
        """Erases the file and the shared row; erasing twice is fine."""
        self.erase(ref)
        if self.shared:
            await IdentityBlob.filter(ref=ref).delete()

    def put(self, data: bytes) -> str:
        """Encrypts and writes `data`; returns its reference."""
        ref = secrets.token_hex(16)
        blob = self._seal(ref, data)
        tmp = self.directory / f".{ref}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path(ref))
        return ref

    def _seal(self, ref: str, data: bytes) -> bytes:
        nonce = secrets.token_bytes(12)
        return _MAGIC + nonce + self._aead.encrypt(nonce, data, ref.encode())

    def get(self, ref: str) -> bytes:
        """The clear bytes; raises FileNotFoundError when erased, MasterKeyWrongError."""
        return self._open(ref, self.path(ref).read_bytes())

    def _open(self, ref: str, blob: bytes) -> bytes:
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
