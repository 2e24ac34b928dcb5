"""aiogram FSM storage in the database, so a conversation (/collect) survives a bot restart."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiogram.exceptions import DataNotDictLikeError
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey
from tortoise.exceptions import IntegrityError

from bot.models import TelegramConversation
from workflows import clock


def storage_key(key: StorageKey) -> str:
    """One row per bot, chat, thread, user, business connection and destiny."""
    return ":".join(str(part) if part is not None else "" for part in (
        key.bot_id, key.chat_id, key.thread_id, key.user_id, key.business_connection_id,
        key.destiny))[:191]


class DatabaseStorage(BaseStorage):
    """State and data of each conversation in a TelegramConversation row.

    A conversation with neither state nor data has no row: clearing it deletes the row.
    Data must be JSON-serialisable (it is: names, Telegram file ids, flags).
    """

    async def _save(self, key: StorageKey, **values: Any) -> None:
        name = storage_key(key)
        row = await TelegramConversation.get_or_none(key=name)
        state = values.get("state", row.state if row else None)
        data = values.get("data", row.data if row else {})
        if state is None and not data:
            await TelegramConversation.filter(key=name).delete()
            return
        now = clock.now()
        if row is not None:
            await TelegramConversation.filter(id=row.id).update(state=state, data=data,
                                                                updated_at=now)
            return
        try:
            await TelegramConversation.create(key=name, state=state, data=data, updated_at=now)
        except IntegrityError:  # Another update of the same chat wrote it first.
            await TelegramConversation.filter(key=name).update(state=state, data=data,
                                                               updated_at=now)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        await self._save(key, state=state.state if isinstance(state, State) else state)

    async def get_state(self, key: StorageKey) -> str | None:
        row = await TelegramConversation.get_or_none(key=storage_key(key))
        return row.state if row else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        if not isinstance(data, dict):
            raise DataNotDictLikeError(
                f"Data must be a dict or dict-like object, got {type(data).__name__}")
        await self._save(key, data=dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        row = await TelegramConversation.get_or_none(key=storage_key(key))
        return dict(row.data) if row and row.data else {}

    async def close(self) -> None:
        # The database belongs to the service, which closes it.
        return None
