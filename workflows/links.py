"""Signer link tokens: derived from a platform secret, so only their hash is ever stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from workflows.ports import CoreSettings


LINK_KEY_FILE = "links.key"
_keys: dict[str, bytes] = {}


def _file_key(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: when two processes start at once, one writes and both read the same key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        data = path.read_bytes()
        if len(data) == 32:
            return data
        raise RuntimeError(f"{path} is not a 32-byte link key") from None
    key = os.urandom(32)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
        fh.flush()
        os.fsync(fh.fileno())
    return key


def link_key(settings: CoreSettings) -> bytes:
    """32 bytes: derived from PARAPHE_MASTER_KEY when set, else a random key kept in home/keys."""
    cache_key = f"{settings.home}:{bool(settings.master_key)}"
    if cache_key not in _keys:
        if settings.master_key is not None:
            _keys[cache_key] = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                                    info=b"paraphe signer links").derive(
                settings.master_key.get_secret_value().encode())
        else:
            _keys[cache_key] = _file_key(settings.home / "keys" / LINK_KEY_FILE)
    return _keys[cache_key]


def token_for(settings: CoreSettings, signer_id: int, collection_id: int) -> str:
    """The signer's link token (192 bits), the same every time it is asked for."""
    mac = hmac.new(link_key(settings), f"signer-link:{collection_id}:{signer_id}".encode(),
                   hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode().rstrip("=")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_for(settings: CoreSettings, signer_id: int, collection_id: int) -> str:
    return f"{settings.public_url}/s/{token_for(settings, signer_id, collection_id)}"
