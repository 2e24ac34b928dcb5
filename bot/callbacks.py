"""Inline button payloads (Telegram limits callback data to 64 bytes: ids only)."""

from aiogram.filters.callback_data import CallbackData


class DocAction(CallbackData, prefix="doc"):
    """A button under a PDF the person sent: seal, collect or verify it."""

    action: str  # seal | collect | verify
    upload: int
    cabinet: int = 0


class ApprovalAction(CallbackData, prefix="appr"):
    """Approve or reject a collection awaiting approval."""

    action: str  # approve | reject
    collection: int


class CollectAction(CallbackData, prefix="col"):
    """A choice inside the /collect conversation."""

    action: str  # ordered | parallel | confirm | abort | cabinet
    value: int = 0


class RegistrationAction(CallbackData, prefix="reg"):
    """A button of the /register conversation."""

    action: str  # confirm | type | agree | accept | submit
    value: str = ""  # the document type, for "type"


class CertificateAction(CallbackData, prefix="cert"):
    """A button under /certificate's details."""

    action: str  # revoke


class TermsAction(CallbackData, prefix="terms"):
    """Accept the terms of use of one cabinet, in the version shown with the button."""

    action: str  # accept
    cabinet: int
    version: str
