"""Every chat text comes from templates/chat/; these helpers render and send it."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from paraphe.templating import render


def text(template: str, language: str, /, **context) -> str:
    """Renders templates/chat/<template>.j2 in `language` (the catalogs translate it)."""
    return render(f"chat/{template}", language, **context).strip()


def keyboard(rows: list[list[tuple[str, str]]]) -> InlineKeyboardMarkup:
    """Inline buttons from rows of (label, callback data)."""
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=label, callback_data=data) for label, data in row]
        for row in rows])
