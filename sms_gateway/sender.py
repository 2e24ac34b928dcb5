"""Renders an SMS notification from templates/sms/ and hands it to the deployment's provider.

Independent of any loop: the dispatcher of every channel (paraphe.dispatch) calls
`SmsSender.send(notification)`.
"""

from __future__ import annotations

from paraphe.templating import render
from sms_gateway.octopush import OctopushProvider
from sms_gateway.providers import FileSmsProvider, ReceiptHandler, SmsProvider
from sms_gateway.smpp import SmppProvider
from workflows import notifications, people
from workflows.models import Notification
from workflows.notifications import DeliveryRefused
from workflows.text import clean_line

def build_provider(settings, on_receipt: ReceiptHandler | None = None) -> SmsProvider:
    """The provider PARAPHE_SMS_PROVIDER names, with its settings."""
    kind = getattr(settings, "sms_provider", "file") or "file"
    if kind == "file":
        return FileSmsProvider(settings.home / "sms")
    if kind == "smpp":
        return SmppProvider.from_settings(settings, on_receipt=on_receipt)
    if kind == "octopush":
        return OctopushProvider.from_settings(settings)
    raise ValueError(f"PARAPHE_SMS_PROVIDER: unknown provider {kind!r} (file, smpp, octopush)")


def request_id(n: Notification) -> str:
    """The same for every attempt at one message, and unlike any other's (even of another
    deployment sharing the provider's account): a provider that deduplicates by it
    (Octopush's request_id) never sends a retry twice, nor drops another message."""
    created = n.created_at.strftime("%Y%m%d%H%M%S%f") if n.created_at else "0"
    return f"paraphe-{n.id}-{created}"


_senders: dict[str, SmsSender] = {}


class SmsSender:
    """One per process and deployment (see `sender_for`): an SMPP session is kept open for
    its delivery receipts, which are recorded by workflows.notifications.record_report.
    The dispatcher (paraphe.dispatch) keeps what `send` returns as the provider's reference."""

    keeps_reference = True

    def __init__(self, settings, provider: SmsProvider | None = None) -> None:
        self.settings = settings
        self.regions = people.sms_regions(settings)
        self.provider = provider or build_provider(settings, on_receipt=notifications.record_report)

    def render(self, n: Notification) -> str:
        """The text of the message: templates/sms/<template>.j2 in `language`, stripped."""
        text = render(f"sms/{n.template}", n.language, **(n.context or {})).strip()
        # One line, control characters of a name typed by someone dropped.
        return clean_line(text, limit=1224)

    async def send(self, n: Notification) -> str:
        """Sends the notification; returns the provider's message id (stored as its
        provider_ref). Raises DeliveryRefused when it can never go (not a mobile number of
        the regions served, a code already replaced, the provider refusing the number); any
        other exception is a failure to retry."""
        if not people.is_sms_number(n.recipient, self.regions):
            raise DeliveryRefused("sms_undeliverable",
                                  "not a mobile number of a region served "
                                  f"({', '.join(self.regions)})")
        if (n.context or {}).get("code") == notifications.BLANK_CODE:
            raise DeliveryRefused("code_replaced", notifications.REPLACED_CODE)
        return await self.provider.send(n.recipient, self.render(n), request_id=request_id(n))

    def describe(self) -> str:
        return self.provider.describe()

    async def open(self) -> None:
        opener = getattr(self.provider, "open", None)
        if opener is not None:
            await opener()

    async def close(self) -> None:
        await self.provider.close()


def sender_for(settings) -> SmsSender:
    """The SMS sender of this deployment, made once per process."""
    key = str(settings.home)
    if key not in _senders:
        _senders[key] = SmsSender(settings)
    return _senders[key]


def install(settings, sender: SmsSender) -> None:
    """Replaces the deployment's sender (tests, a deployment's own provider)."""
    _senders[str(settings.home)] = sender


def forget(settings) -> SmsSender | None:
    """Drops the deployment's sender (when it stops); returns it to be closed."""
    return _senders.pop(str(settings.home), None)
