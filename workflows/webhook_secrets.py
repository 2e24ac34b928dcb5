"""Webhook signing secrets at rest: AES-256-GCM, never in clear in the database.

An HMAC key must be usable to sign, so it cannot be stored as a hash like API keys.
It is kept as ``enc1:<base64 of nonce + ciphertext>`` under a key derived with HKDF from
PARAPHE_MASTER_KEY (as the keystore and the identity vault derive theirs), else 32
random bytes generated once into <home>/keys/webhooks.key (mode 0600).
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from workflows.errors import MasterKeyWrongError
from workflows.ports import CoreSettings
from workflows.trust.keystore import derived_key


PREFIX = "enc1:"
_HKDF_SALT = b"paraphe/webhooks/v1"
_AAD = b"paraphe webhook signing secret"


class SecretBox:
    """Seals and opens the signing secrets of webhook endpoints."""

    def __init__(self, settings: CoreSettings) -> None:
        self._aead = AESGCM(derived_key(settings, salt=_HKDF_SALT, info=b"webhook secrets",
                                        fallback=Path(settings.home) / "keys" / "webhooks.key"))

    def seal(self, secret: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = nonce + self._aead.encrypt(nonce, secret.encode("utf-8"), _AAD)
        return PREFIX + base64.urlsafe_b64encode(sealed).decode("ascii")

    def open(self, stored: str) -> str:
        """The clear secret; raises MasterKeyWrongError when it cannot be decrypted."""
        if not is_sealed(stored):
            return stored  # Stored in clear by an earlier version; `seal_stored` fixes it.
        try:
            blob = base64.urlsafe_b64decode(stored[len(PREFIX):])
            return self._aead.decrypt(blob[:12], blob[12:], _AAD).decode("utf-8")
        except (InvalidTag, ValueError):
            raise MasterKeyWrongError("a webhook secret cannot be decrypted: wrong master key "
                                      "or damaged value") from None


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)
