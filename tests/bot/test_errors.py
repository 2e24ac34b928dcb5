"""Every domain error has a chat message, in French and in English."""

from __future__ import annotations

import pytest

from bot import errors as bot_errors
from bot.errors import error_text
from mail_gateway import errors as mail_errors
from web import errors as web_errors
from workflows import errors

# The core's errors and the transports' own (they left workflows/errors.py, and still read
# well in the chat, as before).
ALL = sorted({cls for module in (errors, bot_errors, mail_errors, web_errors)
              for cls in vars(module).values()
              if isinstance(cls, type) and issubclass(cls, errors.ParapheError)},
             key=lambda cls: cls.code)
# What a person in the chat can run into gets its own wording, not the generic one.
CHAT_CODES = {
    "delegation_missing", "not_a_member", "cabinet_ambiguous", "credit_insufficient",
    "document_not_pdf", "document_too_large", "document_encrypted", "document_broken",
    "document_bomb", "link_code_invalid", "link_code_expired", "telegram_already_linked",
    "telegram_account_unknown", "button_stale", "terms_not_accepted", "collection_not_found",
    "collection_state", "collection_invalid", "otp_invalid", "otp_expired", "otp_locked",
    "otp_rate_limited", "not_your_turn", "not_a_signer", "already_signed", "already_declined",
    "registration_state", "registration_step_missing", "registration_not_needed",
    "phone_invalid", "phone_already_bound", "phone_not_verified",
    "identity_document_type_invalid", "identity_document_format", "identity_document_greyscale",
    "identity_document_too_small", "identity_document_too_large",
    "identity_document_side_invalid", "identity_document_missing",
    "personal_certificate_missing", "personal_certificate_revoked", "text_invalid",
    "storage_full",
}


@pytest.mark.parametrize("cls", ALL, ids=lambda cls: cls.code)
@pytest.mark.parametrize("language", ["fr", "en"])
def test_every_error_reads_well(cls, language):
    body = error_text(cls("English detail"), language)
    assert body and "{{" not in body
    if cls.code in CHAT_CODES:
        assert f"(code {cls.code})" not in body
        assert "English detail" not in body or cls.code == "collection_invalid"


def test_details_shape_the_message():
    missing = errors.DelegationMissingError("x", action="seal", cabinet="dupont")
    assert error_text(missing, "fr") == (
        "Vous n'avez pas la délégation « sceller » pour dupont. "
        "Demandez-la à l'expert-comptable du cabinet.")
    wrong = errors.OtpInvalidError("x", attempts_left=2)
    assert error_text(wrong, "en") == "Wrong code. Type it again (2 attempt(s) left)."
    state = errors.CollectionStateError("x", collection_id=4, state="in_progress")
    assert error_text(state, "fr") == "La collecte n° 4 est en cours : ce n'est plus possible."
