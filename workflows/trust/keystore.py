"""Private keys: encrypted files under a master key (software) or kept inside a PKCS#11 token."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import threading
from pathlib import Path
from typing import Any

from asn1crypto import keys
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from workflows.errors import KeyNotFoundError, KeystoreError, MasterKeyWrongError
from workflows.ports import CoreSettings


KEY_KINDS = ("ec-p256", "rsa-2048", "rsa-3072")
KEY_REF_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

_MAGIC = b"PRPHK1"
# The file holding a value encrypted under the master key, to tell a wrong one at start.
CHECK_FILE = "master.check"
_CHECK_PLAINTEXT = b"paraphe keystore master key check"
# A fixed salt is fine: the master key is either random or an operator secret, and the
# salt only separates this use of it from any other.
_HKDF_SALT = b"paraphe/keystore/v1"


def _check_ref(key_ref: str) -> None:
    # "master" would collide with the master key file itself.
    if not KEY_REF_RE.match(key_ref or "") or key_ref.lower() == "master":
        raise KeystoreError(f"invalid key name {key_ref!r}")


def _private_copy(path: Path, data: bytes) -> Path:
    """`data` in a new 0600 file beside `path`, written and fsynced: the caller links or
    renames it into place, then removes it."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _write_new_file(path: Path, data: bytes) -> bool:
    """Writes a 0600 file atomically; returns False (and leaves it) when it already exists.

    The data goes to a private temporary file first and is then hard-linked into place, so a
    concurrent reader never sees a half-written key and two writers cannot both win.
    """
    tmp = _private_copy(path, data)
    try:
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        tmp.unlink(missing_ok=True)


def _replace_file(path: Path, data: bytes) -> None:
    """Writes a 0600 file atomically in place of any file of that name."""
    tmp = _private_copy(path, data)
    try:
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _generate_private_key(kind: str):
    if kind == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind in ("rsa-2048", "rsa-3072"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[4:]))
    raise KeystoreError(f"unknown key kind {kind!r}: use one of {', '.join(KEY_KINDS)}")


def sign_with_private_key(key, data: bytes) -> bytes:
    """Signs with SHA-256 the way X.509, CRLs, OCSP and CMS expect (DER ECDSA or PKCS#1 v1.5)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    raise KeystoreError("unsupported key type")


def derived_key(settings: CoreSettings, *, salt: bytes, info: bytes, fallback: Path) -> bytes:
    """A 32-byte key: HKDF-SHA256 of PARAPHE_MASTER_KEY when it is set, else 32 random bytes
    generated once into `fallback` (mode 0600). Raises KeystoreError for an empty master key
    or a damaged key file."""
    if settings.master_key is not None:
        secret = settings.master_key.get_secret_value().encode()
        if not secret:
            raise KeystoreError("PARAPHE_MASTER_KEY is empty")
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(secret)
    fallback.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not fallback.exists():
        _write_new_file(fallback, secrets.token_bytes(32))
    data = fallback.read_bytes()
    if len(data) != 32:
        raise KeystoreError(f"{fallback} is damaged: 32 bytes expected")
    return data

class SoftwareKeystore:
    """Keys as files ``<home>/keys/<key_ref>.key``: AES-256-GCM over the PKCS#8 DER.

    The master key is derived with HKDF-SHA256 from ``settings.master_key`` when set, else it
    is 32 random bytes generated once into ``<home>/keys/master.key`` (mode 0600). A check
    file encrypted under it makes a wrong master key fail at start, not at the first seal.
    """

    kind = "software"
    # On PostgreSQL, the table the files are mirrored in (workflows.trust.shared_keys).
    table: Any = None

    def __init__(self, settings: CoreSettings) -> None:
        self.directory = Path(settings.home) / "keys"
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._aead = AESGCM(self._master_key(settings))
        self._loaded: dict[str, Any] = {}
        self._verify_master_key()

    def _master_key(self, settings: CoreSettings) -> bytes:
        return derived_key(settings, salt=_HKDF_SALT, info=b"master key",
                           fallback=self.directory / "master.key")

    def _verify_master_key(self) -> None:
        path = self.directory / CHECK_FILE
        if not path.exists():
            _write_new_file(path, self._seal(_CHECK_PLAINTEXT, CHECK_FILE.encode()))
        try:
            ok = self._open(path.read_bytes(), CHECK_FILE.encode()) == _CHECK_PLAINTEXT
        except MasterKeyWrongError:
            ok = False
        if not ok:
            raise MasterKeyWrongError(
                f"the master key does not open the keystore in {self.directory}: "
                "check PARAPHE_MASTER_KEY")

    def _seal(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = secrets.token_bytes(12)
        return _MAGIC + nonce + self._aead.encrypt(nonce, plaintext, aad)

    def _open(self, blob: bytes, aad: bytes) -> bytes:
        if not blob.startswith(_MAGIC) or len(blob) < len(_MAGIC) + 12 + 16:
            raise KeystoreError("a key file is damaged or not a Paraphe key file")
        nonce = blob[len(_MAGIC):len(_MAGIC) + 12]
        try:
            return self._aead.decrypt(nonce, blob[len(_MAGIC) + 12:], aad)
        except InvalidTag:
            raise MasterKeyWrongError(
                "a key file cannot be decrypted: wrong master key or damaged file") from None

    def _path(self, key_ref: str) -> Path:
        _check_ref(key_ref)
        return self.directory / f"{key_ref}.key"

    def generate(self, key_ref: str, kind: str = "ec-p256"):
        """Creates and stores a new key; returns its public key. Raises KeystoreError."""
        key = _generate_private_key(kind)
        der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        # The key name is the associated data, so a key file renamed to another name fails.
        if not _write_new_file(self._path(key_ref), self._seal(der, key_ref.encode())):
            raise KeystoreError(f"a key named {key_ref!r} already exists")
        self._loaded[key_ref] = key
        return key.public_key()

    def store(self, key_ref: str, key, *, replace: bool = False) -> None:
        """Stores a private key made elsewhere, encrypted like the others: the outgoing DKIM
        key, which the mail library needs in clear at signing time (so it cannot live in a
        token). Without `replace`, raises KeystoreError when the name is taken; with it, the
        old key is swapped for the new one in one rename, never leaving the name empty."""
        der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        blob = self._seal(der, key_ref.encode())
        if replace:
            _replace_file(self._path(key_ref), blob)
        elif not _write_new_file(self._path(key_ref), blob):
            raise KeystoreError(f"a key named {key_ref!r} already exists")
        self._loaded[key_ref] = key

    def load(self, key_ref: str):
        """The ``cryptography`` private key; raises KeyNotFoundError or MasterKeyWrongError."""
        key = self._loaded.get(key_ref)
        if key is None:
            try:
                blob = self._path(key_ref).read_bytes()
            except FileNotFoundError:
                raise KeyNotFoundError(f"no key named {key_ref!r} in the keystore") from None
            der = self._open(blob, key_ref.encode())
            key = serialization.load_der_private_key(der, password=None)
            self._loaded[key_ref] = key
        return key

    def public_key(self, key_ref: str):
        return self.load(key_ref).public_key()

    def sign(self, key_ref: str, data: bytes) -> bytes:
        """A SHA-256 signature of ``data`` in X.509 encoding; raises KeystoreError."""
        return sign_with_private_key(self.load(key_ref), data)

    def delete(self, key_ref: str) -> None:
        self._loaded.pop(key_ref, None)
        self._path(key_ref).unlink(missing_ok=True)


_PKCS11_SESSIONS: dict[tuple[str, str, int], Any] = {}
_PKCS11_LOCK = threading.Lock()


def open_pkcs11_session(settings: CoreSettings):
    """One read-write, logged-in session per process, module and token; raises KeystoreError."""
    # lazy: python-pkcs11 (a C extension over the HSM's library) loads only with an HSM.
    import pkcs11

    pin = settings.pkcs11_pin.get_secret_value() if settings.pkcs11_pin else None
    # The process id is part of the key: a session inherited through fork() is not usable.
    cache_key = (settings.pkcs11_module, settings.pkcs11_token_label, os.getpid())
    with _PKCS11_LOCK:
        session = _PKCS11_SESSIONS.get(cache_key)
        if session is None:
            try:
                lib = pkcs11.lib(settings.pkcs11_module)
                token = lib.get_token(token_label=settings.pkcs11_token_label)
                session = token.open(rw=True, user_pin=pin)
            except pkcs11.PKCS11Error as e:
                # The PIN is never part of the message.
                raise KeystoreError(
                    f"cannot open PKCS#11 token {settings.pkcs11_token_label!r}: "
                    f"{type(e).__name__}") from None
            _PKCS11_SESSIONS[cache_key] = session
    return session


class Pkcs11Keystore:
    """Keys generated inside a PKCS#11 token, never exported; ``key_ref`` is their label.

    Signing happens in the token (CKM_ECDSA over a SHA-256 digest, or CKM_SHA256_RSA_PKCS).
    """

    kind = "pkcs11"

    def __init__(self, settings: CoreSettings) -> None:
        self.settings = settings
        self.session = open_pkcs11_session(settings)
        self._handles: dict[str, Any] = {}
        self._lock = threading.Lock()

    def generate(self, key_ref: str, kind: str = "ec-p256"):
        """Creates a key pair in the token; returns the public key. Raises KeystoreError."""
        # lazy: python-pkcs11 (a C extension over the HSM's library) loads only with an HSM.
        import pkcs11
        from pkcs11 import Attribute, KeyType
        from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters
        from pkcs11.util.rsa import encode_rsa_public_key

        _check_ref(key_ref)
        if kind not in KEY_KINDS:
            raise KeystoreError(f"unknown key kind {kind!r}: use one of {', '.join(KEY_KINDS)}")
        if self._find(key_ref) is not None:
            raise KeystoreError(f"a key named {key_ref!r} already exists")
        key_id = hashlib.sha256(key_ref.encode()).digest()[:16]
        private_template = {Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False,
                            Attribute.SIGN: True, Attribute.TOKEN: True, Attribute.PRIVATE: True}
        public_template = {Attribute.VERIFY: True, Attribute.TOKEN: True}
        try:
            with self._lock:
                if kind == "ec-p256":
                    params = self.session.create_domain_parameters(
                        KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters(
                            "secp256r1")}, local=True)
                    pub, priv = params.generate_keypair(
                        store=True, label=key_ref, id=key_id,
                        public_template=public_template, private_template=private_template)
                    spki = encode_ec_public_key(pub)
                    public = serialization.load_der_public_key(spki)
                else:
                    pub, priv = self.session.generate_keypair(
                        KeyType.RSA, int(kind[4:]), store=True, label=key_ref, id=key_id,
                        public_template=public_template, private_template=private_template)
                    public = serialization.load_der_public_key(
                        _rsa_spki(encode_rsa_public_key(pub)))
        except pkcs11.PKCS11Error as e:
            raise KeystoreError(f"the token could not generate key {key_ref!r}: "
                                f"{type(e).__name__}") from None
        self._handles[key_ref] = priv
        return public

    def _find(self, key_ref: str):
        # lazy: python-pkcs11 (a C extension over the HSM's library) loads only with an HSM.
        from pkcs11 import Attribute, ObjectClass

        handle = self._handles.get(key_ref)
        if handle is None:
            with self._lock:
                found = list(self.session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY,
                                                       Attribute.LABEL: key_ref}))
            if not found:
                return None
            handle = self._handles[key_ref] = found[0]
        return handle

    def load(self, key_ref: str):
        """The token's private key handle (never the key itself); raises KeyNotFoundError."""
        handle = self._find(key_ref)
        if handle is None:
            raise KeyNotFoundError(f"no key labelled {key_ref!r} in the PKCS#11 token")
        return handle

    def sign(self, key_ref: str, data: bytes) -> bytes:
        """A SHA-256 signature of ``data`` in X.509 encoding, made inside the token."""
        # lazy: python-pkcs11 (a C extension over the HSM's library) loads only with an HSM.
        import pkcs11
        from pkcs11 import KeyType, Mechanism
        from pkcs11.util.ec import encode_ecdsa_signature

        handle = self.load(key_ref)
        try:
            with self._lock:
                if handle.key_type == KeyType.EC:
                    raw = handle.sign(hashlib.sha256(data).digest(), mechanism=Mechanism.ECDSA)
                    return encode_ecdsa_signature(raw)
                return handle.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS)
        except pkcs11.PKCS11Error as e:
            raise KeystoreError(f"the token could not sign with {key_ref!r}: "
                                f"{type(e).__name__}") from None

    def delete(self, key_ref: str) -> None:
        # lazy: python-pkcs11 (a C extension over the HSM's library) loads only with an HSM.
        from pkcs11 import Attribute

        with self._lock:
            for obj in list(self.session.get_objects({Attribute.LABEL: key_ref})):
                obj.destroy()
        self._handles.pop(key_ref, None)


def _rsa_spki(pkcs1_der: bytes) -> bytes:
    return keys.PublicKeyInfo({
        "algorithm": {"algorithm": "rsa"},
        "public_key": keys.RSAPublicKey.load(pkcs1_der),
    }).dump()


def open_keystore(settings: CoreSettings) -> SoftwareKeystore | Pkcs11Keystore:
    """The PKCS#11 keystore when PARAPHE_PKCS11_MODULE is set, else the software one."""
    if settings.pkcs11_module:
        return Pkcs11Keystore(settings)
    return SoftwareKeystore(settings)
