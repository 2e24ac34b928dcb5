"""Files a person sent the bot, fetched from the Bot API (shared by the routers that take PDFs)."""

from __future__ import annotations

from io import BytesIO

from aiogram import Bot


async def download(bot: Bot, file_id: str) -> bytes:
    """The bytes of a file the person sent, fetched from the Bot API."""
    file = await bot.get_file(file_id)
    buffer: BytesIO = await bot.download_file(file.file_path)
    return buffer.getvalue()
