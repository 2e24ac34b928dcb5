"""The spool worker: each accepted message is parsed, checked by its chain, run, and answered
once."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import time

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from mail_gateway import (approval_replies, bounces, delivery, errors, mime, parsing, replies,
                          rules)
from mail_gateway.addresses import BOUNCE
from mail_gateway.commands import CHAINS
from mail_gateway.context import MailContext
from mail_gateway.models import InboundMessage
from mail_gateway import spool_db
from mail_gateway.spool import Spool
from mail_gateway.spools import Gone, age_seconds
from paraphe import logs, metrics
from workflows import clock, holders, lookups
from workflows.actors import Actor
from workflows.errors import ParapheError
from workflows.services import Services


log = logging.getLogger(__name__)

# Each declared command's `run`, loaded at start-up: a command without its module fails here.
COMMANDS = {name: importlib.import_module(f"mail_gateway.commands.{name}").run
            for name in CHAINS}
# A message whose processing fails unexpectedly is retried after these delays; after the last
# one its sender gets a reply saying so, rather than silence.
RETRY_DELAYS = (1.0, 5.0, 30.0, 120.0, 600.0)
# The spool is looked at again this often, for what an operator released from quarantine
# (`paraphe spool retry`) or another instance left.
RESCAN_SECONDS = 30.0
# The shared spool (PostgreSQL) is polled this often for rows to claim: one indexed query a
# second per instance, cheaper to run than a LISTEN connection is to keep (a dedicated
# connection outside the pool, reconnected after every failover), and the accepting
# instance does not wait for it: it leases what it accepts and starts at once.
POLL_SECONDS = 1.0
# A message over this size holds several copies of a big PDF while it is processed (raw,
# parsed, decoded, signed); only one such message is processed at a time to bound memory.
LARGE_MESSAGE = 2 * 1024 * 1024


class SpoolWorker:
    """Processes spool entries with a few concurrent tasks; resumes what a restart finds.

    On the files (this instance's alone) retries wait in memory and the spool is rescanned
    every RESCAN_SECONDS. On the shared spool (mail_gateway.spool_db) the worker claims rows
    with a lease, renewed while it holds them, looks for claimable rows every POLL_SECONDS,
    and writes a failure's next try into the row.
    """

    def __init__(self, svc: Services, spool, *, concurrency: int = 4,
                 holder: str | None = None) -> None:
        self.svc = svc
        self.spool = spool
        self.concurrency = concurrency
        # The lease holder of this worker (the shared spool): host, home, pid, random.
        self.holder = holder or holders.holder_name(svc.settings.home)
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: list[asyncio.Task] = []
        self._retries: dict[str, int] = {}
        self._delayed: set[asyncio.Task] = set()
        self._waiting: set[str] = set()  # failed once, resubmitted after a delay
        self.deadline = float(svc.settings.mail_retry_hours) * 3600.0
        self.idle = asyncio.Event()
        self._large = asyncio.Semaphore(1)
        # Mail this instance accepted without room to lease it: the claim runs again as soon
        # as a worker is free, not at the next poll (a burst would wait a second a batch).
        self._backlog = False
        self._wake = asyncio.Event()

    def start(self) -> None:
        if self.spool.shared:
            self._tasks.append(asyncio.create_task(self._adopt_files(), name="spool-adopt"))
            self._tasks.append(asyncio.create_task(self._poll(), name="spool-poll"))
            self._tasks.append(asyncio.create_task(self._renew(), name="spool-leases"))
        else:
            self.spool.clean()
            for ident in self.spool.files.pending():
                self.submit(ident.name)
            self._tasks.append(asyncio.create_task(self._rescan(), name="spool-rescan"))
        self._tasks += [asyncio.create_task(self._run(), name=f"spool-worker-{i}")
                        for i in range(self.concurrency)]

    def room(self) -> int:
        """How many more entries this worker takes now (it claims no more than it can start)."""
        return max(0, 2 * self.concurrency - len(self._queued))

    def lease_for_new(self) -> str | None:
        """The holder to lease newly accepted mail to (shared spool): this worker when it has
        room, else nobody, so that an idle instance claims it (or this one, once free)."""
        if self.room() > 0:
            return self.holder
        self._backlog = True
        return None

    async def _rescan(self) -> None:
        while True:
            await asyncio.sleep(RESCAN_SECONDS)
            try:
                pending = await self.spool.pending_ids()
            except OSError:
                log.exception("could not list the spool")
                continue
            for ident in pending:
                if ident not in self._waiting:
                    self.submit(ident)

    async def _poll(self) -> None:
        """Claims due rows of the shared spool: those accepted by an instance with no room,
        retries that are due, and those a killed instance's lease no longer holds."""
        try:
            await self.spool.release_dead(self.svc.settings.home, self.holder)
        except Exception:  # noqa: BLE001 - the leases expire anyway.
            log.exception("could not take back the leases of a killed process")
        while True:
            self._wake.clear()
            try:
                room = self.room()
                claimed = await self.spool.claim(self.holder, room)
                for ident in claimed:
                    self.submit(ident)
                if len(claimed) < room:
                    self._backlog = False  # Nothing claimable is left behind.
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the database may be briefly away.
                log.exception("could not claim spooled mail")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)

    async def _adopt_files(self) -> None:
        """Mail an instance accepted into its file spool before it moved to the shared one
        (PARAPHE_DOCUMENT_STORE=postgres): each message is committed to the table, then its
        file removed, so nothing accepted is left behind on this disk. A crash in between
        processes it twice, which its InboundMessage row makes harmless."""
        folder = self.svc.settings.home / "spool"
        if not (folder / "new").is_dir():
            return
        files = Spool(folder)
        loop = asyncio.get_running_loop()
        adopted = 0
        for path in await loop.run_in_executor(None, files.pending):
            try:
                spooled = await loop.run_in_executor(None, files.read, path)
                await self.spool.write([spooled.envelope], spooled.raw)
            except (FileNotFoundError, ValueError):
                continue
            except Exception:  # noqa: BLE001 - the files stay; the next start tries again.
                log.exception("could not move the spool file %s to the database", path.name)
                return
            await loop.run_in_executor(None, files.remove, path)
            adopted += 1
        if adopted:
            log.info("%d message(s) of the file spool moved to the shared spool", adopted)
        left = await loop.run_in_executor(None, files.quarantined)
        if left:
            log.warning("%d quarantined message(s) stay in %s (paraphe spool on a files "
                        "deployment reads them)", len(left), folder / "quarantine")

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(spool_db.LEASE.total_seconds() / 4)
            try:
                await self.spool.renew(self.holder)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - tried again at the next period.
                log.exception("could not renew the spool leases")

    async def stop(self) -> None:
        tasks = self._tasks + list(self._delayed)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks = []
        self._delayed.clear()

    async def release_leases(self) -> None:
        """On a clean stop (not a crash): frees this worker's leases on the shared spool, so
        another instance takes its rows now rather than when the leases expire."""
        if not self.spool.shared:
            return
        try:
            await self.spool.release_held(self.holder)
        except Exception:  # noqa: BLE001 - they expire anyway.
            log.exception("could not free the spool leases")

    def submit(self, ident: str) -> None:
        if ident in self._queued:
            return
        self._queued.add(ident)
        self.idle.clear()
        self.queue.put_nowait(ident)

    async def _run(self) -> None:
        while True:
            ident = await self.queue.get()
            try:
                await self.process(ident)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one bad message must not stop the worker.
                log.exception("processing %s failed; it stays in the spool", ident)
                await self._after_failure(ident)
            finally:
                self._queued.discard(ident)
                self.queue.task_done()
                if self._backlog:
                    self._wake.set()
                if self.queue.empty() and not self._queued:
                    self.idle.set()

    async def _after_failure(self, ident: str) -> None:
        """Retries a failed message later, or past its deadline answers it and sets it aside."""
        try:
            envelope = await self.spool.envelope(ident)
        except Gone:
            return
        except ValueError:  # Not even the envelope line can be read: nothing to retry.
            await self.spool.quarantine(ident, _reason("envelope_unreadable"))
            return
        left = self.deadline - age_seconds(envelope, clock.now())
        if left <= 0:
            try:
                await self._give_up(ident)
                return
            except Exception:  # noqa: BLE001 - retried like any failure.
                log.exception("could not set %s aside", ident)
                left = RETRY_DELAYS[-1]
        await self._retry_later(ident, max(0.0, left))

    async def _retry_later(self, ident: str, left: float = float("inf")) -> None:
        def delay_for(attempt: int) -> float:
            return min(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)], left)

        if self.spool.shared:
            # In the row: whichever instance claims it next honours the delay.
            await self.spool.postpone(ident, delay_for)
            return
        attempt = self._retries.get(ident, 0)
        self._retries[ident] = attempt + 1
        self._waiting.add(ident)
        task = asyncio.create_task(self._resubmit(ident, delay_for(attempt)))
        self._delayed.add(task)
        task.add_done_callback(self._delayed.discard)

    async def _resubmit(self, ident: str, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
        finally:
            self._waiting.discard(ident)
        try:
            await self.spool.size(ident)
        except Gone:
            return
        self.submit(ident)

    async def process(self, ident: str) -> str:
        """Processes one spool entry; returns what came of it (for logs and tests)."""
        try:
            size = await self.spool.size(ident)
        except Gone:
            return "gone"  # Another task or instance finished it.
        if size > LARGE_MESSAGE:
            async with self._large:
                return await self._process_entry(ident)
        return await self._process_entry(ident)

    async def _process_entry(self, ident: str) -> str:
        # Every log line of this message's work, the core's included, carries its spool id.
        with logs.scope(ident):
            started = time.perf_counter()
            outcome = await self._process_spooled(ident)
            log.info("message processed: %s in %.1f ms", outcome,
                     (time.perf_counter() - started) * 1000)
            return outcome

    async def _process_spooled(self, ident: str) -> str:
        try:
            envelope, source = await self.spool.source(ident)
        except Gone:
            return "gone"
        if envelope.get("command") == BOUNCE:
            raw = source if isinstance(source, bytes) else (await self.spool.read(ident))[1]
            outcome = await bounces.process(self.svc, envelope, raw)
            await self.spool.remove(ident)
            self._retries.pop(ident, None)
            return outcome
        try:
            parsed = await parsing.parse_spooled(self.svc, source)
        except FileNotFoundError:
            return "gone"  # Another task finished it meanwhile.
        del source
        unreadable = parsed.unreadable()
        if unreadable is not None:
            # Parsing again would fail again: answer now, and set the message aside.
            return await self._set_aside(ident, envelope, parsed, unreadable)
        content_hash, mail, headers = parsed.content_hash, parsed.mail, parsed.headers
        del parsed
        key = _key(mail, content_hash, envelope)
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                outcome = await self._process(key, content_hash, envelope, mail, headers)
        finally:
            if not lock.locked():
                self._locks.pop(key, None)
        # After the InboundMessage row recorded the answer: a crash between the two finds the
        # entry again, and that row makes its second processing a "duplicate".
        await self.spool.remove(ident)
        self._retries.pop(ident, None)
        return outcome

    async def _process(self, key: str, content_hash: str, envelope: dict,
                       mail: mime.InboundMail, headers) -> str:
        record, created = await _record(key, content_hash, envelope, mail, attempt=True)
        if record.state == "done":
            log.info("message %s already processed; redelivery ignored", mail.message_id)
            return "duplicate"
        if not created:  # A new row counted this attempt when it was inserted.
            await InboundMessage.filter(id=record.id).update(attempts=F("attempts") + 1)
        person = await lookups.person(envelope["person_id"])
        if person is None:
            await _done(record, {"ignored": "no person"})
            return "ignored"
        ctx = self._context(key, envelope, mail, person, headers)
        try:
            reply = await _answer_command(ctx)
        except rules.Discard as discarded:
            log.info("message %s from a robot (%s): recorded, not answered", mail.message_id,
                     discarded.marker)
            await _done(record, {"ignored": "robot", "marker": discarded.marker})
            return "ignored"
        except ParapheError as exc:
            if exc.kind == "unavailable" and record.attempts < len(RETRY_DELAYS):
                raise
            reply = await replies.refusal(ctx, exc)
        except Exception:
            if record.attempts < len(RETRY_DELAYS):
                raise
            log.exception("giving up on message %s", mail.message_id)
            reply = replies.internal_error(ctx)
        notification = await replies.send(ctx, reply)
        metrics.MAILS.labels("answered").inc()
        await _done(record, {"reply": reply.template, "notification": notification.id,
                             "cause": reply.context.get("cause", {}).get("code"),
                             "sealed": len(reply.attachments)})
        delivery.poke()
        return reply.template


    def _context(self, key: str, envelope: dict, mail: mime.InboundMail, person,
                 headers) -> MailContext:
        actor = Actor(person_id=person.id, channel="mail", origin={
            "message_id": mail.message_id, "auth": envelope["auth"], "to": envelope["rcpt"]})
        return MailContext(svc=self.svc, key=key, command=envelope["command"], mail=mail,
                           person=person, actor=actor, address_cabinet=envelope.get("cabinet"),
                           mail_from=envelope.get("mail_from") or "", headers=headers)

    async def _set_aside(self, ident: str, envelope: dict, parsed: parsing.Parsed,
                         exc: ParapheError) -> str:
        """A message that cannot be read: its sender told why (unless a robot), then quarantined."""
        content_hash, mail, headers = parsed.content_hash, parsed.mail, parsed.headers
        key = _key(mail, content_hash, envelope)
        record, _ = await _record(key, content_hash, envelope, mail)
        if record.state == "done":
            await self.spool.remove(ident)
            return "duplicate"
        reply = await self._answer(key, envelope, mail, headers,
                                   lambda ctx: replies.unreadable(ctx, exc), kind="unreadable")
        reason = _reason(exc.code, cause=errors.cause(exc), reply=reply)
        await InboundMessage.filter(id=record.id).update(
            state="quarantined", outcome={"quarantined": reason}, done_at=clock.now())
        await self.spool.quarantine(ident, reason)
        self._retries.pop(ident, None)
        metrics.MAILS.labels("quarantined").inc()
        delivery.poke()
        return "quarantined"

    async def _give_up(self, ident: str) -> None:
        """Past the deadline: the sender is told it failed and nothing was billed; set aside."""
        envelope, source = await self.spool.source(ident)
        try:
            parsed = await parsing.parse_spooled(self.svc, source, whole=False)
        except ParapheError:
            # The workers may be what keeps failing on this message (one killed by it, say):
            # its header fields alone, read here, are enough to answer and set it aside.
            parsed = await asyncio.to_thread(parsing.parse_in_worker, source, False)
        mail, headers = parsed.mail, parsed.headers
        key = _key(mail, parsed.content_hash, envelope)
        reply = None
        try:
            reply = await self._answer(key, envelope, mail, headers, replies.internal_error,
                                       kind="failed")
            await InboundMessage.filter(key=key).exclude(state="done").update(
                state="quarantined", outcome={"quarantined": _reason("deadline", reply=reply)},
                done_at=clock.now())
        except Exception:  # noqa: BLE001 - the database may be what keeps failing.
            log.exception("could not answer %s past its deadline", ident)
        await self.spool.quarantine(ident, _reason("deadline", reply=reply))
        self._retries.pop(ident, None)
        metrics.MAILS.labels("quarantined").inc()
        delivery.poke()

    async def _answer(self, key: str, envelope: dict, mail: mime.InboundMail, headers, make,
                      *, kind: str) -> str | None:
        """Records a reply built by `make(ctx)` unless there is no one to answer (no person, or
        a robot by rules.robot_marker); returns its template."""
        person = await lookups.person(envelope.get("person_id"))
        if person is None or rules.robot_marker(envelope.get("mail_from") or "", headers):
            return None
        ctx = self._context(key, envelope, mail, person, headers)
        reply = make(ctx)
        if asyncio.iscoroutine(reply):
            reply = await reply
        await replies.send(ctx, reply, kind=kind)
        return reply.template


async def _answer_command(ctx: MailContext) -> replies.Reply:
    """The command's chain and command; a reply to an approval request (it comes to
    collect@, the request's Reply-To) is answered as such, not as a new collection."""
    collection_id = await approval_replies.answered_collection(ctx)
    if collection_id is not None:
        await rules.run_chain(ctx, approval_replies.CHAIN)
        return await approval_replies.run(ctx, collection_id)
    await rules.run_chain(ctx)
    return await COMMANDS[ctx.command](ctx)


def _reason(code: str, **details) -> dict:
    return {"reason": code, **details, "at": clock.now().isoformat()}


def _key(mail: mime.InboundMail, content_hash: str, envelope: dict) -> str:
    return mime.message_key(mail.message_id, content_hash,
                            envelope["command"] + "+" + (envelope.get("cabinet") or ""))


async def _record(key: str, content_hash: str, envelope: dict, mail: mime.InboundMail, *,
                  attempt: bool = False) -> tuple[InboundMessage, bool]:
    """The message's row and whether it is new. With `attempt`, a new row counts this
    attempt already; on the object, `attempts` is always those before this one."""
    # Inserted first, read only when it exists: a message is new but for a retry.
    try:
        record = await InboundMessage.create(
            key=key, message_id=mail.message_id, content_sha256=content_hash,
            command=envelope["command"], sender=(mail.from_address or "")[:254],
            person_id=envelope.get("person_id"), auth=envelope.get("auth", {}),
            received_at=clock.now(), attempts=int(attempt))
    except IntegrityError:  # A retry, or another instance recorded it first.
        return await InboundMessage.get(key=key), False
    record.attempts = 0
    return record, True


async def _done(record: InboundMessage, outcome: dict) -> None:
    await InboundMessage.filter(id=record.id).update(state="done", outcome=outcome,
                                                     done_at=clock.now())
