"""The bot's own sweeps: its database state (conversations, handled updates) is forgotten
after a while. They run whether or not the bot polls in this process, like the core's."""

from __future__ import annotations

from datetime import timedelta

from bot.models import TelegramConversation, TelegramUpdate
from workflows import clock
from workflows.services import Services


# A chat conversation (/collect…) left untouched this long is forgotten.
CONVERSATION_TTL = timedelta(days=7)
# Telegram redelivers an update for at most 24 hours: the ids of handled updates are kept
# a week for the bot to skip a redelivery, then forgotten.
HANDLED_UPDATE_TTL = timedelta(days=7)

SCHEDULE = {"forget_stale_conversations": 3600, "forget_handled_updates": 3600}
EVERY_INSTANCE: frozenset[str] = frozenset()


async def forget_stale_conversations(svc: Services) -> int:
    """Deletes chat conversations untouched for CONVERSATION_TTL; returns how many."""
    return await TelegramConversation.filter(
        updated_at__lt=clock.now() - CONVERSATION_TTL).delete()


async def forget_handled_updates(svc: Services) -> int:
    """Deletes the ids of Telegram updates handled more than HANDLED_UPDATE_TTL ago (the
    bot's redelivery guard, bot.dedupe); returns how many."""
    return await TelegramUpdate.filter(received_at__lt=clock.now() - HANDLED_UPDATE_TTL).delete()
