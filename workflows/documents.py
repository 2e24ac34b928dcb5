"""Documents stored once by SHA-256 under PARAPHE_HOME/documents; their names live with who
uploaded them."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import shutil
from pathlib import Path

from tortoise.exceptions import IntegrityError

from workflows import clock
from workflows.errors import DocumentNotFoundError
from workflows.models import Document


class DocumentStore:
    """Content-addressed files; the database row is written once per distinct content."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    async def publish_local(self) -> int:
        """What a shared store copies from this folder at start (nothing: files are the store)."""
        return 0

    def path(self, sha256: str) -> Path:
        """Where the file is in this process's folder (it may be absent from a cache: the
        signing engine and other readers by path go through `local_path`)."""
        return self.root / sha256[:2] / f"{sha256}.pdf"

    async def local_path(self, sha256: str) -> Path:
        """A local file of the document, for readers by path; raises DocumentNotFoundError."""
        path = self.path(sha256)
        if not path.exists():
            raise DocumentNotFoundError(f"document {sha256} is not in the store")
        return path

    async def forget(self, sha256: str) -> None:
        """Removes the stored bytes (the caller deletes the Document row)."""
        self.path(sha256).unlink(missing_ok=True)

    def _write(self, sha256: str, data: bytes) -> None:
        target = self.path(sha256)
        if target.exists() and target.stat().st_size == len(data):
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.{id(data)}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)

    def _adopt(self, sha256: str, source: Path) -> int:
        target = self.path(sha256)
        size = source.stat().st_size
        if target.exists() and target.stat().st_size == size:
            source.unlink()
            return size
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(source, "rb") as fh:
            os.fsync(fh.fileno())
        try:
            os.replace(source, target)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            # The store is on another file system (a mount of its own): copy, then rename.
            tmp = target.with_suffix(f".{os.getpid()}.{id(source)}.tmp")
            shutil.copyfile(source, tmp)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, target)
            source.unlink()
        return size

    async def put(self, data: bytes, archive_until=None) -> Document:
        """Stores the bytes (if new) and returns their Document row (no name: see the model);
        `archive_until` marks a B-LTA output for the archive sweep (Document.archive_until)."""
        sha256 = await self.write(data)
        return await self._row(sha256, len(data), archive_until)

    async def write(self, data: bytes) -> str:
        """Writes the bytes to disk (if new) and returns their SHA-256; no database row yet.

        Files are named by their content, so writing one before the transaction that
        records it is harmless when that transaction fails.
        """
        sha256 = hashlib.sha256(data).hexdigest()
        await asyncio.get_running_loop().run_in_executor(None, self._write, sha256, data)
        return sha256

    async def register(self, sha256: str, size: int, archive_until=None) -> None:
        """The Document row of a file `write` stored, in one statement that does nothing
        when the row exists (for a use case's transaction, which it does not abort)."""
        await Document.bulk_create([Document(sha256=sha256, size=size, created_at=clock.now(),
                                             archive_until=archive_until)],
                                   ignore_conflicts=True)

    async def adopt(self, source: Path, sha256: str) -> Document:
        """Moves a file whose SHA-256 the caller computed into the store (on the same file
        system, e.g. the signing engine's spool) and returns its Document row. When the
        move fails, the source is removed all the same: a signed copy is not left behind."""
        try:
            size = await asyncio.get_running_loop().run_in_executor(None, self._adopt, sha256,
                                                                    Path(source))
        except BaseException:
            Path(source).unlink(missing_ok=True)
            raise
        return await self._row(sha256, size)

    async def _row(self, sha256: str, size: int, archive_until=None) -> Document:
        existing = await Document.get_or_none(sha256=sha256)
        if existing:
            return existing
        try:
            return await Document.create(sha256=sha256, size=size, created_at=clock.now(),
                                         archive_until=archive_until)
        except IntegrityError:
            return await Document.get(sha256=sha256)

    async def read(self, sha256: str) -> bytes:
        """The bytes of a stored document; raises DocumentNotFoundError."""
        path = self.path(sha256)
        try:
            return await asyncio.get_running_loop().run_in_executor(None, path.read_bytes)
        except FileNotFoundError:
            raise DocumentNotFoundError(f"document {sha256} is not in the store") from None
