"""Documents stored once by SHA-256 under PARAPHE_HOME/documents."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

from tortoise.exceptions import IntegrityError

from workflows import clock
from workflows.errors import DocumentNotFoundError
from workflows.models import Document


class DocumentStore:
    """Content-addressed files; the database row is written once per distinct content."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.pdf"

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

    async def put(self, data: bytes, filename: str) -> Document:
        """Stores the bytes (if new) and returns their Document row."""
        sha256 = hashlib.sha256(data).hexdigest()
        await asyncio.get_running_loop().run_in_executor(None, self._write, sha256, data)
        existing = await Document.get_or_none(sha256=sha256)
        if existing:
            return existing
        try:
            return await Document.create(sha256=sha256, size=len(data), filename=filename[:255],
                                         created_at=clock.now())
        except IntegrityError:
            return await Document.get(sha256=sha256)

    async def read(self, sha256: str) -> bytes:
        """The bytes of a stored document; raises DocumentNotFoundError."""
        path = self.path(sha256)
        try:
            return await asyncio.get_running_loop().run_in_executor(None, path.read_bytes)
        except FileNotFoundError:
            raise DocumentNotFoundError(f"document {sha256} is not in the store") from None
