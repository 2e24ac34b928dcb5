"""One-time codes for signers: 6 digits, single use, 10 minutes, bound to the documents, stored
hashed."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import NoReturn
from collections.abc import Awaitable, Callable

from workflows import clock, observations
from workflows.errors import (
    OtpExpiredError,
    OtpInvalidError,
    OtpLockedError,
    OtpRateLimitedError,
)
from workflows.models import Signer, SignerCode
from workflows.transactions import in_transaction_now

CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=10)
MAX_ATTEMPTS = 5
# Sending is rate-limited per link: one code per interval, and a few per window.
RESEND_INTERVAL = timedelta(seconds=30)
WINDOW = timedelta(hours=1)
MAX_PER_WINDOW = 5


def documents_hash(sha256s: list[str]) -> str:
    """What a code is bound to: the hash of the (ordered) hashes of the documents to sign."""
    return hashlib.sha256("\n".join(sha256s).encode()).hexdigest()


def _digest(code: str, salt: str, signer_id: int, bound_to: str) -> str:
    # The signer and the documents enter the hash, so a code only ever works for them.
    message = f"{signer_id}:{bound_to}:{code}".encode()
    return hmac.new(bytes.fromhex(salt), message, hashlib.sha256).hexdigest()


def check_rate(recent: list[datetime], now: datetime) -> None:
    """Raises OtpRateLimitedError when the codes sent within WINDOW (newest first) leave no
    room for one more now. Shared by signers' codes and persons' codes."""
    if recent and recent[0] > now - RESEND_INTERVAL:
        wait = int((recent[0] + RESEND_INTERVAL - now).total_seconds()) + 1
        raise OtpRateLimitedError(f"a code was sent less than {RESEND_INTERVAL.seconds} s ago",
                                  retry_after=wait)
    if len(recent) >= MAX_PER_WINDOW:
        wait = int((recent[-1] + WINDOW - now).total_seconds()) + 1
        raise OtpRateLimitedError(f"{MAX_PER_WINDOW} codes were sent within the hour",
                                  retry_after=wait)


async def lock_for_rate(model, row_id: int) -> None:
    """Locks the row whose codes are counted (signer, person) until the caller's transaction
    ends: two requests at once, on one instance or two, would otherwise both count the
    same codes and both send one. The second waits, then counts the first's code. SQLite
    runs one write transaction at a time already (and has no FOR UPDATE)."""
    if not in_transaction_now():
        raise RuntimeError("a code is issued inside its caller's transaction")
    await model.select_for_update().filter(id=row_id)


def new_code() -> tuple[str, str]:
    """A fresh code and the salt of its digest."""
    return f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}", secrets.token_hex(16)


def refuse_dead(row, now: datetime) -> None:
    """Raises OtpExpiredError or OtpLockedError unless `row` is a live code.

    A code whose tries are gone is locked whatever happened to it next: a burst of guesses
    gets one answer once the tries are taken, whether or not one of them was right."""
    if row is not None and (row.state == "locked" or row.attempts >= MAX_ATTEMPTS):
        raise OtpLockedError("too many wrong codes: ask for a new one")
    if row is None or row.state in ("used", "replaced"):
        raise OtpExpiredError("no code is waiting: ask for a new one")
    if row.expires_at <= now:
        raise OtpExpiredError("the code has expired: ask for a new one")


def matches(code: str | None, digest_of: Callable[[str], str], expected: str) -> bool:
    """Whether the typed code (spaces ignored) has the expected digest; constant-time."""
    typed = "".join(ch for ch in (code or "") if not ch.isspace())
    return (len(typed) == CODE_DIGITS and typed.isdigit()
            and hmac.compare_digest(digest_of(typed), expected))


async def take_try(model, row) -> int:
    """Takes one of the code's tries before its comparison, in one conditional statement,
    and returns the tries used with this one; raises OtpLockedError when none is left.

    Taking the try first is what makes the limit hold under concurrency: a burst of
    guesses gets at most MAX_ATTEMPTS comparisons, and every guess after those gets the
    same answer whatever it is. UPDATE … RETURNING works on SQLite ≥ 3.35 and PostgreSQL.
    """
    table = model._meta.basetable
    db = model._meta.db  # The caller's transaction when there is one.
    query = (db.query_class.update(table)
             .set(table.attempts, table.attempts + 1)
             .where((table.id == int(row.id)) & (table.state == "active")
                    & (table.attempts < MAX_ATTEMPTS))
             .returning(table.attempts))
    rows = await db.execute_query_dict(query.get_sql())
    if not rows:
        # Another guess took the last try or used the code meanwhile: answer as a guess
        # arriving now would be answered, so that the burst's late guesses agree.
        refuse_dead(await model.get_or_none(id=row.id), clock.now())
        raise OtpLockedError("too many wrong codes: ask for a new one")
    return rows[0]["attempts"]


def refuse_wrong(used: int, kind: str = "signer") -> NoReturn:
    """Raises OtpLockedError when the wrong try was the last one, else OtpInvalidError
    (details: attempts_left). The code row is not marked: its tries are its lock, so a
    right guess compared before the limit can still be consumed. `kind` says whose code
    it was (a signer's, or a person's purpose) for the metrics."""
    locked = used >= MAX_ATTEMPTS
    observations.emit("code_refused", kind=kind, outcome="locked" if locked else "wrong")
    if locked:
        raise OtpLockedError("too many wrong codes: ask for a new one")
    raise OtpInvalidError("the code is wrong", attempts_left=MAX_ATTEMPTS - used)


async def issue(signer: Signer, *, channel: str, bound_to: str) -> str:
    """Creates a new code for the signer (older ones die) and returns it in clear, once.

    Raises OtpRateLimitedError when codes were sent too recently or too often.
    """
    await lock_for_rate(Signer, signer.id)
    now = clock.now()
    check_rate(await SignerCode.filter(signer_id=signer.id, created_at__gt=now - WINDOW)
               .order_by("-created_at").values_list("created_at", flat=True), now)
    code, salt = new_code()
    await SignerCode.filter(signer_id=signer.id, state="active").update(state="replaced")
    await SignerCode.create(signer_id=signer.id, channel=channel, salt=salt,
                            digest=_digest(code, salt, signer.id, bound_to),
                            documents_hash=bound_to, created_at=now,
                            expires_at=now + CODE_LIFETIME)
    return code


async def check(signer: Signer, code: str, *, bound_to: str,
                on_wrong: Callable[[Exception], Awaitable[None]] | None = None) -> SignerCode:
    """The signer's live code row when `code` matches it; does not consume it.

    Every check takes one of the code's five tries before comparing; once they are gone
    every guess is refused alike. A wrong try that was counted is told to `on_wrong` (with
    the error about to be raised). Raises OtpExpiredError (none sent, expired, replaced or
    used), OtpLockedError, OtpInvalidError (details: attempts_left).
    """
    row = await SignerCode.filter(signer_id=signer.id).order_by("-id").first()
    refuse_dead(row, clock.now())
    used = await take_try(SignerCode, row)
    if matches(code, lambda typed: _digest(typed, row.salt, signer.id, bound_to), row.digest):
        return row
    try:
        refuse_wrong(used)
    except (OtpInvalidError, OtpLockedError) as exc:
        if on_wrong is not None:
            await on_wrong(exc)
        raise


async def consume(row: SignerCode) -> bool:
    """Marks a checked code used; False when it was used or replaced meanwhile."""
    done = await SignerCode.filter(id=row.id, state="active").update(state="used",
                                                                     used_at=clock.now())
    return done == 1
