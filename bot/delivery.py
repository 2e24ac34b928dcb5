"""Delivers notifications of channel "telegram": rendered from templates/chat/, sent by the bot."""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BufferedInputFile

from bot import replies
from bot.callbacks import ApprovalAction
from paraphe.templating import TEMPLATES_DIR
from workflows import notifications
from workflows.models import Notification
from workflows.services import Services

log = logging.getLogger("paraphe.bot")


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
    if not (TEMPLATES_DIR / "chat" / f"{name}.fr.j2").exists():
        raise LookupError(f"no chat template for {n.template!r}")
    return replies.text(name, n.language, **(n.context or {}))


class TelegramDelivery:
    """Claims due "telegram" notifications and sends them; retries with the outbox's backoff."""

    def __init__(self, svc: Services, bot: Bot, *, interval: float = 2.0, batch: int = 20):
        self.svc, self.bot, self.interval, self.batch = svc, bot, interval, batch
        self._task: asyncio.Task | None = None
        self._mirrored_up_to = 0  # Highest mail notification id already copied to chat.

    async def send(self, n: Notification) -> int:
        chat_id = int(n.recipient)
        message = await self.bot.send_message(chat_id, render(n), reply_markup=_buttons(n))
        for attachment in n.attachments or []:
            data = await self.svc.documents.read(attachment["sha256"])
            await self.bot.send_document(
                chat_id, BufferedInputFile(data, filename=attachment["filename"]))
        return message.message_id

    async def run_once(self) -> int:
        """Sends what is due now; returns how many went out."""
        from workflows.chat_notifications import mirror_to_telegram

        _, self._mirrored_up_to = await mirror_to_telegram(self._mirrored_up_to)
        sent = 0
        for n in await notifications.claim_due(self.batch, channel="telegram"):
            try:
                message_id = await self.send(n)
            except (TelegramAPIError, LookupError, ValueError, OSError) as exc:
                log.warning("telegram notification %s failed: %s", n.id, exc)
                await notifications.mark_failed(n, f"{type(exc).__name__}: {exc}")
                continue
            await notifications.mark_sent(n, str(message_id))
            sent += 1
        return sent

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # The database may be briefly away; the next round retries.
                log.exception("telegram delivery round failed")
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="telegram-delivery")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
