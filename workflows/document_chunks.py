"""Documents as rows of chunks in PostgreSQL (document_chunk), read and written one chunk at
a time: several instances share them, and no document is ever whole in memory here."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import BinaryIO

from tortoise.transactions import in_transaction

from workflows.models import DocumentChunk

# 1 MiB: a 10 MB document is ten rows, each well under PostgreSQL's limits for one value.
CHUNK_BYTES = 1 << 20


async def stored(sha256: str) -> bool:
    # The chunks of one document are inserted in one transaction: the first one means all.
    return await DocumentChunk.filter(sha256=sha256, seq=0).exists()


async def _insert(sha256: str, seq: int, data: bytes) -> None:
    # A concurrent writer of the same bytes inserts the same rows: the second one is a no-op.
    await DocumentChunk.bulk_create([DocumentChunk(sha256=sha256, seq=seq, data=data)],
                                    ignore_conflicts=True)


async def store_bytes(sha256: str, data: bytes) -> None:
    """Stores `data` (whose SHA-256 the caller computed) unless it is stored already."""
    if len(data) <= CHUNK_BYTES:
        # One chunk (most documents): its insert, a no-op when stored already, is atomic by
        # itself, without a look-up first nor a transaction around it.
        await _insert(sha256, 0, bytes(data))
        return
    if await stored(sha256):
        return
    view = memoryview(data)
    async with in_transaction():
        for seq, start in enumerate(range(0, max(len(view), 1), CHUNK_BYTES)):
            await _insert(sha256, seq, bytes(view[start:start + CHUNK_BYTES]))


async def store_file(sha256: str, source: Path) -> None:
    """Stores the file `source` (whose SHA-256 the caller computed), one chunk read at a time."""
    if await stored(sha256):
        return
    loop = asyncio.get_running_loop()
    with open(source, "rb") as fh:
        async with in_transaction():
            seq = 0
            while True:
                chunk = await loop.run_in_executor(None, fh.read, CHUNK_BYTES)
                if not chunk and seq:
                    break
                last = len(chunk) < CHUNK_BYTES
                await _insert(sha256, seq, chunk)
                del chunk  # Before the next read: one chunk in memory, not two.
                seq += 1
                if last:
                    break


async def copy_to(sha256: str, out: BinaryIO) -> int:
    """Writes the document into `out`, one chunk fetched at a time; returns the number of
    chunks (0: not stored)."""
    loop = asyncio.get_running_loop()
    ids = await DocumentChunk.filter(sha256=sha256).order_by("seq").values_list("id", flat=True)
    for chunk_id in ids:
        chunk = await DocumentChunk.get(id=chunk_id)
        await loop.run_in_executor(None, out.write, bytes(chunk.data))
        del chunk
    return len(ids)


async def delete(sha256: str) -> None:
    await DocumentChunk.filter(sha256=sha256).delete()
