"""The spool behind one interface: files in PARAPHE_HOME (SQLite, or
PARAPHE_DOCUMENT_STORE=files) or rows in PostgreSQL shared by the fleet
(PARAPHE_DOCUMENT_STORE=postgres).

Entries are named by a string id: the file's name for the files, the row's `name` for the
database; `paraphe spool` shows them. The worker (mail_gateway.pipeline) asks `shared`:
a shared spool is claimed with leases and keeps its retry schedule in its rows; the files
are this instance's alone, retried from memory and rescanned.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from mail_gateway.spool import Spool, age_seconds, oldest_unanswered
from mail_gateway.spool_entry import Entry, Gone
from workflows.ports import CoreSettings


def open_spool(settings: CoreSettings):
    """The spool of this deployment: the database's when documents are kept there."""
    if settings.document_store == "postgres":
        from mail_gateway.spool_db import DatabaseSpool

        return DatabaseSpool()
    return FileSpool(Spool(settings.home / "spool"))


class FileSpool:
    """The files of mail_gateway.spool, each call run in a thread (they fsync)."""

    shared = False

    def __init__(self, files: Spool) -> None:
        self.files = files
        self.root = files.root

    async def _io(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    def _path(self, ident: str) -> Path:
        path = self.files.find(ident)
        if path is None:
            raise Gone(ident)
        return path

    async def write(self, plans: list[dict], raw: bytes, *, holder: str | None = None
                    ) -> list[str]:
        """Writes one file per envelope durably (fsynced); returns their ids."""
        return [(await self._io(self.files.write, plan, raw)).name for plan in plans]

    async def pending_ids(self) -> list[str]:
        return [p.name for p in await self._io(self.files.pending)]

    async def size(self, ident: str) -> int:
        try:
            return (self.files.new / ident).stat().st_size
        except FileNotFoundError:
            raise Gone(ident) from None

    async def read(self, ident: str) -> tuple[dict, bytes]:
        try:
            spooled = await self._io(self.files.read, self.files.new / ident)
        except FileNotFoundError:
            raise Gone(ident) from None
        return spooled.envelope, spooled.raw

    async def source(self, ident: str) -> tuple[dict, str]:
        """The envelope, and the file's path for a worker process to read the message from
        (mail_gateway.parsing): the service itself never reads it. Raises Gone."""
        envelope = await self.envelope(ident)
        return envelope, str(self.files.new / ident)

    async def envelope(self, ident: str) -> dict:
        """Raises Gone, or ValueError when the envelope cannot be read."""
        try:
            return await self._io(self.files.envelope, self.files.new / ident)
        except FileNotFoundError:
            raise Gone(ident) from None

    async def remove(self, ident: str) -> None:
        await self._io(self.files.remove, self.files.new / ident)

    async def quarantine(self, ident: str, reason: dict) -> None:
        await self._io(self.files.quarantine, self.files.new / ident, reason)

    def clean(self) -> None:
        self.files.clean_tmp()

    # What `paraphe spool` and /metrics read.

    def _entry(self, path: Path, *, raw: bool = False) -> Entry:
        quarantined = path.parent == self.files.quarantine_dir
        return Entry(id=path.stem, state="quarantined" if quarantined else "pending",
                     envelope=self.files.envelope(path), size=path.stat().st_size,
                     reason=self.files.reason(path) if quarantined else None,
                     raw=self.files.read(path).raw if raw else None)

    async def entries(self) -> list[Entry]:
        def listing():
            found = []
            for path in [*self.files.pending(), *self.files.quarantined()]:
                try:
                    found.append(self._entry(path))
                except (FileNotFoundError, ValueError):
                    continue  # Finished meanwhile, or being written.
            return found
        return await self._io(listing)

    async def find(self, ident: str) -> Entry:
        return await self._io(lambda: self._entry(self._path(ident), raw=True))

    async def release(self, ident: str, envelope_update: dict) -> str:
        return (await self._io(self.files.release, self._path(ident), envelope_update)).stem

    async def drop(self, ident: str) -> None:
        await self._io(self.files.drop, self._path(ident))

    async def gauges(self, now: datetime) -> tuple[int, int, float]:
        """(pending, quarantined, age in seconds of the oldest pending)."""
        def count():
            return (len(self.files.pending()), len(self.files.quarantined()),
                    oldest_unanswered(self.files, now))
        return await self._io(count)


__all__ = ["Entry", "FileSpool", "Gone", "age_seconds", "open_spool"]
