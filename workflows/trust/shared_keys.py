"""The software keystore's files mirrored in PostgreSQL (stored_key), so that every instance
on one database signs with the keys any of them created (the CAs', a cabinet's seal key).

A row holds a file exactly as it is on disk: encrypted under the master key, which every
instance is given; the key never leaves a process in clear. The keys folder stays each
instance's cache, read by its signing workers (which have no database): a key is fetched
into it before a job names it. A name is written once, first writer wins, the way the files
are linked into place (keystore._write_new_file).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tortoise.exceptions import IntegrityError

from workflows import clock
from workflows.errors import MasterKeyWrongError
from workflows.models import StoredKey
from workflows.ports import CoreSettings
from workflows.shared_state import is_postgres
from workflows.trust.keystore import (
    CHECK_FILE,
    Pkcs11Keystore,
    SoftwareKeystore,
    _replace_file,
    _write_new_file,
    open_keystore,
)


class KeyTable:
    """The files of one keys folder, shared through the stored_key table."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    async def pull(self, name: str, *, refresh: bool = False) -> bool:
        """Copies the row `name` into the folder when the file is absent (or, with `refresh`,
        differs: a key replaced on purpose); returns whether the file is there afterwards."""
        path = self.directory / name
        if path.exists() and not refresh:
            return True
        row = await StoredKey.get_or_none(name=name)
        if row is None:
            return path.exists()
        blob = bytes(row.blob)
        loop = asyncio.get_running_loop()
        if not path.exists():
            await loop.run_in_executor(None, _write_new_file, path, blob)
        elif path.read_bytes() != blob:
            await loop.run_in_executor(None, _replace_file, path, blob)
        return True

    async def push(self, name: str) -> bool:
        """Inserts the file `name` unless a row has that name; when another instance's row
        won, the file is replaced by it. Returns whether the file changed."""
        path = self.directory / name
        mine = path.read_bytes()
        await StoredKey.bulk_create([StoredKey(name=name, blob=mine, created_at=clock.now())],
                                    ignore_conflicts=True)
        winner = bytes((await StoredKey.get(name=name)).blob)
        if winner == mine:
            return False
        await asyncio.get_running_loop().run_in_executor(None, _replace_file, path, winner)
        return True

    async def push_all(self) -> None:
        """Pushes every key file of the folder (insert-if-absent, as `push`)."""
        for path in sorted(self.directory.glob("*.key")):
            if path.name != "master.key":  # The fallback master key itself never leaves.
                await self.push(path.name)

    async def replace(self, name: str) -> None:
        """Makes the file `name` the row of that name, whatever was there (a DKIM key
        replaced on purpose)."""
        blob = (self.directory / name).read_bytes()
        try:
            await StoredKey.create(name=name, blob=blob, created_at=clock.now())
        except IntegrityError:
            await StoredKey.filter(name=name).update(blob=blob, created_at=clock.now())

    async def remove(self, name: str) -> None:
        await StoredKey.filter(name=name).delete()


def _file(key_ref: str) -> str:
    return f"{key_ref}.key"


async def open_shared_keystore(settings: CoreSettings) -> SoftwareKeystore | Pkcs11Keystore:
    """open_keystore, with the software keystore mirrored in the database on PostgreSQL.

    The master key check is shared too: an instance given another master key than the one
    that made the keystore fails here, at start. Raises KeystoreError."""
    if settings.pkcs11_module or not is_postgres(settings.database_url):
        return open_keystore(settings)
    return await open_shared_software_keystore(settings)


async def open_shared_software_keystore(settings: CoreSettings) -> SoftwareKeystore:
    """The software keystore (also beside a PKCS#11 token: the DKIM key lives there),
    mirrored in the database on PostgreSQL. Raises KeystoreError."""
    if not is_postgres(settings.database_url):
        return SoftwareKeystore(settings)
    table = KeyTable(Path(settings.home) / "keys")
    table.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        first = not await StoredKey.filter(name=CHECK_FILE).exists()
        await table.pull(CHECK_FILE)
        keystore = SoftwareKeystore(settings)
        if await table.push(CHECK_FILE):
            # Another instance made the check at the same moment and won: it must open too.
            keystore._verify_master_key()
        elif first:
            # This instance brings the keystore into the database: the keys an earlier
            # version kept only in this folder become every instance's.
            await table.push_all()
    except MasterKeyWrongError as e:
        raise MasterKeyWrongError(
            f"{e} (instances on one database share their keys: each one needs the same "
            "PARAPHE_MASTER_KEY)") from None
    keystore.table = table
    return keystore


async def stored(key_ref: str) -> bool:
    """Whether some instance stored a key of that name (PostgreSQL only)."""
    return await StoredKey.filter(name=_file(key_ref)).exists()


async def share(keystore, key_ref: str) -> None:
    """Publishes a key this process just stored (generate or store); when another instance
    stored one under that name first, theirs is used from now on."""
    table = getattr(keystore, "table", None)
    if table is not None and await table.push(_file(key_ref)):
        keystore._loaded.pop(key_ref, None)


async def share_replacing(keystore, key_ref: str) -> None:
    """Publishes a key stored with `replace=True` over any other of that name."""
    table = getattr(keystore, "table", None)
    if table is not None:
        await table.replace(_file(key_ref))


async def fetch(keystore, key_ref: str, *, refresh: bool = False) -> None:
    """Brings a key another instance created into this one's folder (a no-op when it is
    there, or for a keystore that is not shared); its absence shows at load, as before.
    With `refresh`, a copy that differs from the shared one (replaced since) is updated."""
    table = getattr(keystore, "table", None)
    if table is not None and key_ref:
        await table.pull(_file(key_ref), refresh=refresh)
        if refresh:
            keystore._loaded.pop(key_ref, None)


async def remove(keystore, key_ref: str) -> None:
    """keystore.delete, for every instance: the row goes too (other instances' copies stay
    in their folders, unused: nothing names the key any more)."""
    keystore.delete(key_ref)
    table = getattr(keystore, "table", None)
    if table is not None:
        await table.remove(_file(key_ref))
