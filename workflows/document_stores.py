"""The document store an instance uses: files under PARAPHE_HOME/documents, or PostgreSQL
(PARAPHE_DOCUMENT_STORE=postgres, the default there) with that folder as a local cache, so
that instances on one database read each other's documents."""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

from workflows import document_chunks
from workflows.documents import DocumentStore
from workflows.errors import DocumentNotFoundError
from workflows.models import Document, DocumentChunk
from workflows.ports import CoreSettings


class SharedDocumentStore(DocumentStore):
    """The database holds the documents; the folder keeps a copy of those this instance
    wrote or read. A cached file is always valid: its name is the SHA-256 of its bytes."""

    async def publish_local(self) -> int:
        """On the first start on PostgreSQL after an upgrade (documents recorded, no chunk
        yet), puts the files of this folder into the database; returns how many."""
        if await DocumentChunk.exists() or not await Document.exists():
            return 0
        count = 0
        for path in sorted(self.root.glob("??/*.pdf")):
            if len(path.stem) == 64:  # Named by their SHA-256 when they were written.
                await document_chunks.store_file(path.stem, path)
                count += 1
        return count

    async def write(self, data: bytes) -> str:
        """The bytes in the database and the local folder (if new); returns their SHA-256.
        Before the transaction that records them, like files: unreferenced chunks are
        harmless when it fails, and writing them again is a no-op."""
        sha256 = await super().write(data)
        await document_chunks.store_bytes(sha256, data)
        return sha256

    async def adopt(self, source: Path, sha256: str) -> Document:
        try:
            await document_chunks.store_file(sha256, Path(source))
        except BaseException:
            Path(source).unlink(missing_ok=True)
            raise
        return await super().adopt(source, sha256)

    async def local_path(self, sha256: str) -> Path:
        """The cached file, first fetched from the database (one chunk in memory at a time,
        into a temporary file renamed into place) when this instance has none."""
        path = self.path(sha256)
        if path.exists():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            with open(tmp, "wb") as fh:
                if not await document_chunks.copy_to(sha256, fh):
                    raise DocumentNotFoundError(f"document {sha256} is not in the store")
                fh.flush()
                await asyncio.get_running_loop().run_in_executor(None, os.fsync, fh.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    async def read(self, sha256: str) -> bytes:
        await self.local_path(sha256)
        return await super().read(sha256)

    async def forget(self, sha256: str) -> None:
        await super().forget(sha256)
        await document_chunks.delete(sha256)


def open_document_store(settings: CoreSettings) -> DocumentStore:
    """The store PARAPHE_DOCUMENT_STORE names (validated by the settings)."""
    root = Path(settings.home) / "documents"
    if settings.document_store == "postgres":
        return SharedDocumentStore(root)
    return DocumentStore(root)
