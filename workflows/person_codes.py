"""One-time codes sent to a person out of band (mobile check, certificate revocation).

The same rules as signers' codes (workflows/otp.py): 6 digits from `secrets`, single use,
10 minutes, stored as a salted HMAC bound to what they confirm, 5 tries, rate-limited.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from tortoise.expressions import F

from workflows import clock
from workflows.errors import OtpExpiredError, OtpInvalidError, OtpLockedError, OtpRateLimitedError
from workflows.models import Person, PersonCode
from workflows.otp import CODE_DIGITS, CODE_LIFETIME, MAX_ATTEMPTS, MAX_PER_WINDOW, WINDOW

RESEND_INTERVAL = timedelta(seconds=30)


def _digest(code: str, salt: str, person_id: int, purpose: str, bound_to: str) -> str:
    message = f"{person_id}:{purpose}:{bound_to}:{code}".encode()
    return hmac.new(bytes.fromhex(salt), message, hashlib.sha256).hexdigest()


async def issue(person: Person, *, purpose: str, channel: str, bound_to: str) -> str:
    """A new code for `purpose` (older ones die), returned in clear once.

    Raises OtpRateLimitedError when codes were sent too recently or too often.
    """
    now = clock.now()
    recent = await PersonCode.filter(person_id=person.id, purpose=purpose,
                                     created_at__gt=now - WINDOW).order_by(
        "-created_at").values_list("created_at", flat=True)
    if recent and recent[0] > now - RESEND_INTERVAL:
        wait = int((recent[0] + RESEND_INTERVAL - now).total_seconds()) + 1
        raise OtpRateLimitedError("a code was sent less than 30 s ago", retry_after=wait)
    if len(recent) >= MAX_PER_WINDOW:
        wait = int((recent[-1] + WINDOW - now).total_seconds()) + 1
        raise OtpRateLimitedError(f"{MAX_PER_WINDOW} codes were sent within the hour",
                                  retry_after=wait)
    code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
    salt = secrets.token_hex(16)
    await PersonCode.filter(person_id=person.id, purpose=purpose, state="active").update(
        state="replaced")
    await PersonCode.create(person_id=person.id, purpose=purpose, channel=channel, salt=salt,
                            digest=_digest(code, salt, person.id, purpose, bound_to),
                            bound_to=bound_to, created_at=now, expires_at=now + CODE_LIFETIME)
    return code


async def check_and_consume(person: Person, code: str, *, purpose: str,
                            bound_to: str) -> PersonCode:
    """Uses the person's live code for `purpose` when `code` matches it.

    A wrong code counts as a try; the fifth wrong one kills it. Raises OtpExpiredError
    (none sent, expired, replaced, used, or sent for something else), OtpLockedError,
    OtpInvalidError (details: attempts_left).
    """
    row = await PersonCode.filter(person_id=person.id, purpose=purpose).order_by("-id").first()
    now = clock.now()
    if row is None or row.state in ("used", "replaced") or row.bound_to != bound_to:
        raise OtpExpiredError("no code is waiting: ask for a new one")
    if row.state == "locked":
        raise OtpLockedError("too many wrong codes: ask for a new one")
    if row.expires_at <= now:
        raise OtpExpiredError("the code has expired: ask for a new one")
    typed = "".join(ch for ch in (code or "") if not ch.isspace())
    good = (len(typed) == CODE_DIGITS and typed.isdigit() and hmac.compare_digest(
        _digest(typed, row.salt, person.id, purpose, bound_to), row.digest))
    if good:
        used = await PersonCode.filter(id=row.id, state="active").update(state="used",
                                                                         used_at=now)
        if used != 1:
            raise OtpExpiredError("this code was already used: ask for a new one")
        return row
    await PersonCode.filter(id=row.id, state="active").update(attempts=F("attempts") + 1)
    fresh = await PersonCode.get(id=row.id)
    if fresh.attempts >= MAX_ATTEMPTS:
        await PersonCode.filter(id=row.id, state="active").update(state="locked")
        raise OtpLockedError("too many wrong codes: ask for a new one")
    raise OtpInvalidError("the code is wrong", attempts_left=MAX_ATTEMPTS - fresh.attempts)
