"""The outgoing DKIM key and the DNS record that publishes it.

`paraphe dkim keygen` makes an RSA key and keeps it in the software keystore under
`dkim-<selector>`, encrypted under the master key like the platform's other private keys
(on PostgreSQL shared with every instance through the database, workflows.trust.shared_keys);
delivery opens it in memory when it starts, since dkimpy signs with a PEM in clear. A key
file named by PARAPHE_DKIM_PRIVATE_KEY (the older way) still takes precedence.
"""

from __future__ import annotations

import base64
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from workflows.ports import CoreSettings
from workflows.shared_state import is_postgres
from workflows.trust import shared_keys
from workflows.trust.keystore import SoftwareKeystore

KEY_SIZES = (2048, 3072, 4096)
# A selector is one DNS label (RFC 6376 allows dotted ones; one label is what people use).
SELECTOR_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# One character-string of a TXT record holds at most 255 bytes (RFC 1035 §3.3).
TXT_CHUNK = 255


@dataclass(frozen=True)
class DkimRecord:
    selector: str
    domain: str
    name: str  # fully qualified, with the final dot
    value: str  # the whole TXT value; a zone file splits it (zone_line)

    def strings(self) -> list[str]:
        return [self.value[i:i + TXT_CHUNK] for i in range(0, len(self.value), TXT_CHUNK)]

    def zone_line(self) -> str:
        """The line to publish: `<name> IN TXT "…" "…"`, each string at most 255 characters."""
        return f"{self.name} IN TXT " + " ".join(f'"{s}"' for s in self.strings())

    def as_json(self) -> dict:
        return asdict(self)


def check_selector(selector: str) -> str:
    """The selector lowercased; raises ValueError when it is not one DNS label."""
    value = (selector or "").strip().lower()
    if not SELECTOR_RE.match(value):
        raise ValueError(f"invalid DKIM selector {selector!r}: one DNS label "
                         "(letters, digits and hyphens, at most 63)")
    return value


def key_ref(selector: str) -> str:
    return f"dkim-{selector}"


def record_for(public_key, selector: str, domain: str) -> DkimRecord:
    spki = public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    domain = domain.rstrip(".").lower()
    return DkimRecord(selector, domain, f"{selector}._domainkey.{domain}.",
                      f"v=DKIM1; k=rsa; p={base64.b64encode(spki).decode()}")


async def fetch_shared(settings: CoreSettings, selector: str) -> None:
    """On PostgreSQL (the database open), brings the selector's key into this instance's
    keys folder, whichever instance ran `paraphe dkim keygen`, as it is now (--force)."""
    if settings.dkim_private_key or not is_postgres(settings.database_url):
        return
    # Not opened for nothing: beside a PKCS#11 token, the software keystore (and its master
    # key) exists only for a DKIM key.
    if await shared_keys.stored(key_ref(selector)):
        keystore = await shared_keys.open_shared_software_keystore(settings)
        await shared_keys.fetch(keystore, key_ref(selector), refresh=True)


async def share(settings: CoreSettings, selector: str, *, replace: bool) -> None:
    """On PostgreSQL (the database open), publishes the key `generate` just stored to
    every instance; with `replace`, over the one they had."""
    if not is_postgres(settings.database_url):
        return
    keystore = await shared_keys.open_shared_software_keystore(settings)
    if replace:
        await shared_keys.share_replacing(keystore, key_ref(selector))
    else:
        await shared_keys.share(keystore, key_ref(selector))


def has_stored_key(settings: CoreSettings, selector: str) -> bool:
    # A file check first: opening the keystore would create its master key as a side effect.
    return (Path(settings.home) / "keys" / f"{key_ref(selector)}.key").exists()


def generate(settings: CoreSettings, selector: str, *, bits: int = 2048,
             replace: bool = False):
    """A new RSA key stored as `dkim-<selector>`; returns its public key. Raises
    KeystoreError when one exists and `replace` is not set."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    SoftwareKeystore(settings).store(key_ref(selector), key, replace=replace)
    return key.public_key()


def stored_key(settings: CoreSettings, selector: str):
    """The stored private key of `selector`, or None when there is none."""
    if not has_stored_key(settings, selector):
        return None
    return SoftwareKeystore(settings).load(key_ref(selector))


def file_key(settings: CoreSettings):
    """The private key in PARAPHE_DKIM_PRIVATE_KEY's file, or None when it is unset."""
    if not settings.dkim_private_key:
        return None
    return serialization.load_pem_private_key(Path(settings.dkim_private_key).read_bytes(),
                                              password=None)


def signing_pem(settings: CoreSettings) -> bytes | None:
    """The PEM delivery signs with, in memory only: PARAPHE_DKIM_PRIVATE_KEY's file when set,
    else the stored key of PARAPHE_DKIM_SELECTOR; None when mail goes out unsigned."""
    if settings.dkim_private_key:
        return Path(settings.dkim_private_key).read_bytes()
    key = stored_key(settings, settings.dkim_selector)
    if key is None:
        return None
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
