"""The bounce path: delivery reports that came back to bounce+<token>@ for outgoing mail.

Not a command: nobody is authenticated, nothing is billed and nothing is ever answered
(a report comes from a null sender, and answering one could loop between two robots). The
token was checked at RCPT (a forged one is refused there); here the report is read and the
notification it names is marked: failed (workflows.deliveries.refused, once), delayed, or
delivered.
"""

from __future__ import annotations

import asyncio
import logging

from mail_gateway import dsn
from workflows import deliveries
from workflows.models import Notification
from workflows.services import Services

log = logging.getLogger(__name__)


async def process(svc: Services, envelope: dict, raw: bytes) -> str:
    """Acts on one spooled report; returns what came of it (for logs and tests)."""
    notification = await Notification.get_or_none(id=envelope.get("notification_id") or 0)
    if notification is None:
        return "bounce:unknown_notification"
    report = await asyncio.get_running_loop().run_in_executor(None, dsn.parse, raw)
    if report is None:
        # An auto-reply or a bounce in no standard format: kept out of the signer's state,
        # where a vacation message would otherwise read as a failure.
        log.info("mail to bounce for notification %s is not a DSN: dropped", notification.id)
        return "bounce:not_a_dsn"
    if (report.original_message_id and notification.message_id
            and report.original_message_id != notification.message_id):
        log.info("DSN for notification %s names another message: dropped", notification.id)
        return "bounce:other_message"
    if report.action == "failed":
        text = report.diagnostic or report.status or "failed"
        acted = await deliveries.refused(svc, notification, "dsn_failed", text)
        return "bounce:failed" if acted else "bounce:already_failed"
    if report.action == "delayed":
        await deliveries.reported(notification, "delayed")
        return "bounce:delayed"
    if report.action == "delivered":
        await deliveries.reported(notification, "delivered")
        return "bounce:delivered"
    return f"bounce:{report.action or 'unknown'}"  # relayed, expanded: nothing more to know.
