"""An offline DNS for DKIM: TXT records served from memory, and DKIM keys made for tests."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@dataclass
class DkimKey:
    domain: str
    selector: str
    private_pem: bytes
    txt: str

    def sign(self, message: bytes, *, headers=(b"from", b"to", b"subject", b"date",
                                              b"message-id")) -> bytes:
        """The message with a DKIM-Signature header prepended."""
        sig = dkim.sign(message, self.selector.encode(), self.domain.encode(), self.private_pem,
                        include_headers=list(headers))
        return sig + message


def make_dkim_key(domain: str, selector: str = "mail") -> DkimKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    txt = f"v=DKIM1; k=rsa; p={base64.b64encode(spki).decode()}"
    return DkimKey(domain, selector, pem, txt)


class FakeDns:
    """dkimpy's async dnsfunc: `await dns(b"sel._domainkey.example.com.", timeout=5)`."""

    def __init__(self) -> None:
        self.records: dict[str, str] = {}
        self.queries: list[str] = []

    def publish(self, key: DkimKey) -> DkimKey:
        self.records[f"{key.selector}._domainkey.{key.domain}".lower()] = key.txt
        return key

    async def __call__(self, name, timeout: float = 5):
        name = name.decode() if isinstance(name, bytes) else name
        name = name.rstrip(".").lower()
        self.queries.append(name)
        txt = self.records.get(name)
        return txt.encode() if txt is not None else None


class FakeHosts:
    """A resolver for webhook targets (workflows.webhook_targets.Resolve): the names set here
    are answered from memory, whatever the machine's DNS says; others go to the system."""

    def __init__(self) -> None:
        self.names: dict[str, list[str]] = {}
        self.queries: list[str] = []

    def set(self, name: str, *addresses: str) -> None:
        self.names[name.lower()] = list(addresses)

    async def __call__(self, host: str, port: int) -> list[str]:
        from workflows.webhook_targets import system_resolve

        self.queries.append(host)
        if host.lower().rstrip(".") in self.names:
            return list(self.names[host.lower().rstrip(".")])
        return await system_resolve(host, port)
