"""Sends notifications of channel "telegram": rendered from templates/chat/, sent by the bot.

The dispatcher (paraphe.dispatch) claims them, and picks this channel for a notice to a
person who linked Telegram while the bot runs.
"""

from __future__ import annotations

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import BufferedInputFile

from bot import replies
from bot.callbacks import ApprovalAction
from paraphe.templating import TEMPLATES_DIR
from workflows.models import Notification
from workflows.notifications import DeliveryRefused
from workflows.services import Services


def _buttons(n: Notification):
    # An approval request carries its Approve / Reject buttons.
    context = n.context or {}
    collection_id = context.get("collection_id")
    if collection_id is None and isinstance(context.get("collection"), dict):
        collection_id = context["collection"].get("id")
    if n.template.endswith("approval_request") and collection_id:
        return replies.keyboard([[
            (replies.text("approvals/button_approve", n.language),
             ApprovalAction(action="approve", collection=int(collection_id)).pack()),
            (replies.text("approvals/button_reject", n.language),
             ApprovalAction(action="reject", collection=int(collection_id)).pack())]])
    return None


def render(n: Notification) -> str:
    name = f"notify/{n.template}"
    if not has_chat_version(n.template):
        raise LookupError(f"no chat template for {n.template!r}")
    return replies.text(name, n.language, **(n.context or {}))


def has_chat_version(template: str) -> bool:
    return (TEMPLATES_DIR / "chat" / "notify" / f"{template}.j2").exists()


class TelegramSender:
    """The "telegram" sender of the dispatcher (paraphe.dispatch): the message rendered from
    templates/chat/notify, then its documents; `send` returns the message's id.

    Telegram refusing for good (the person blocked the bot, the chat is gone) raises
    DeliveryRefused; anything else is retried by the dispatcher with the outbox's backoff.
    """

    # One person's notices reach their chat in the order they were recorded.
    concurrent = False

    def __init__(self, svc: Services, bot: Bot) -> None:
        self.svc, self.bot = svc, bot

    def accepts(self, n: Notification) -> bool:
        """Whether a notice to a person can go to their chat (its template has a chat
        version); the dispatcher sends the others by mail."""
        return has_chat_version(n.template)

    async def send(self, n: Notification) -> str:
        try:
            return await self._send(n)
        except TelegramForbiddenError as exc:
            raise DeliveryRefused("chat_forbidden", str(exc)) from None
        except TelegramBadRequest as exc:
            if "chat not found" in str(exc).lower():
                raise DeliveryRefused("chat_not_found", str(exc)) from None
            raise
        except LookupError as exc:
            raise DeliveryRefused("no_chat_template", str(exc)) from None

    async def _send(self, n: Notification) -> str:
        chat_id = int(n.recipient)
        message = await self.bot.send_message(chat_id, render(n), reply_markup=_buttons(n))
        for attachment in n.attachments or []:
            data = await self.svc.documents.read(attachment["sha256"])
            await self.bot.send_document(
                chat_id, BufferedInputFile(data, filename=attachment["filename"]))
        return str(message.message_id)
