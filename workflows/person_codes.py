"""One-time codes sent to a person out of band (mobile check, certificate revocation).

The same rules as signers' codes (workflows/otp.py): 6 digits from `secrets`, single use,
10 minutes, stored as a salted HMAC bound to what they confirm, 5 tries, rate-limited.
"""

from __future__ import annotations

import hashlib
import hmac

from workflows import clock, otp
from workflows.errors import OtpExpiredError
from workflows.models import Person, PersonCode


def _digest(code: str, salt: str, person_id: int, purpose: str, bound_to: str) -> str:
    message = f"{person_id}:{purpose}:{bound_to}:{code}".encode()
    return hmac.new(bytes.fromhex(salt), message, hashlib.sha256).hexdigest()


async def issue(person: Person, *, purpose: str, channel: str, bound_to: str) -> str:
    """A new code for `purpose` (older ones die), returned in clear once.

    Raises OtpRateLimitedError when codes were sent too recently or too often.
    """
    await otp.lock_for_rate(Person, person.id)
    now = clock.now()
    otp.check_rate(await PersonCode.filter(person_id=person.id, purpose=purpose,
                                           created_at__gt=now - otp.WINDOW).order_by(
        "-created_at").values_list("created_at", flat=True), now)
    code, salt = otp.new_code()
    await PersonCode.filter(person_id=person.id, purpose=purpose, state="active").update(
        state="replaced")
    await PersonCode.create(person_id=person.id, purpose=purpose, channel=channel, salt=salt,
                            digest=_digest(code, salt, person.id, purpose, bound_to),
                            bound_to=bound_to, created_at=now, expires_at=now + otp.CODE_LIFETIME)
    return code


async def check_and_consume(person: Person, code: str, *, purpose: str,
                            bound_to: str) -> PersonCode:
    """Uses the person's live code for `purpose` when `code` matches it.

    Every check takes one of the five tries before comparing (workflows/otp.py). Raises
    OtpExpiredError (none sent, expired, replaced, used, or sent for something else),
    OtpLockedError, OtpInvalidError (details: attempts_left).
    """
    row = await PersonCode.filter(person_id=person.id, purpose=purpose).order_by("-id").first()
    if row is not None and row.bound_to != bound_to:
        raise OtpExpiredError("no code is waiting: ask for a new one")
    now = clock.now()
    otp.refuse_dead(row, now)
    used = await otp.take_try(PersonCode, row)
    if not otp.matches(code, lambda typed: _digest(typed, row.salt, person.id, purpose, bound_to),
                       row.digest):
        otp.refuse_wrong(used, kind=purpose)
    used = await PersonCode.filter(id=row.id, state="active").update(state="used", used_at=now)
    if used != 1:
        raise OtpExpiredError("this code was already used: ask for a new one")
    return row
