"""The spool worker: each accepted message is parsed, checked by its chain, run, and answered
once."""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from pathlib import Path

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from mail_gateway import approval_replies, bounces, delivery, errors, mime, replies, rules
from mail_gateway.addresses import BOUNCE
from mail_gateway.commands import CHAINS
from mail_gateway.context import MailContext
from mail_gateway.errors import MessageUnreadableError
from mail_gateway.models import InboundMessage
from mail_gateway.sender_auth import parse_headers
from mail_gateway.spool import Spool, age_seconds
from paraphe import logs, metrics
from workflows import clock, lookups
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
# A message over this size holds several copies of a big PDF while it is processed (raw,
# parsed, decoded, signed); only one such message is processed at a time to bound memory.
LARGE_MESSAGE = 2 * 1024 * 1024


class SpoolWorker:
    """Processes spool files with a few concurrent tasks; resumes what a restart finds."""

    def __init__(self, svc: Services, spool: Spool, *, concurrency: int = 4) -> None:
        self.svc = svc
        self.spool = spool
        self.concurrency = concurrency
        self.queue: asyncio.Queue[Path] = asyncio.Queue()
        self._queued: set[Path] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: list[asyncio.Task] = []
        self._retries: dict[Path, int] = {}
        self._delayed: set[asyncio.Task] = set()
        self._waiting: set[Path] = set()  # failed once, resubmitted after a delay
        self.deadline = float(svc.settings.mail_retry_hours) * 3600.0
        self.idle = asyncio.Event()
        self._large = asyncio.Semaphore(1)

    def start(self) -> None:
        self.spool.clean_tmp()
        for path in self.spool.pending():
            self.submit(path)
        self._tasks = [asyncio.create_task(self._run(), name=f"spool-worker-{i}")
                       for i in range(self.concurrency)]
        self._tasks.append(asyncio.create_task(self._rescan(), name="spool-rescan"))

    async def _rescan(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(RESCAN_SECONDS)
            try:
                pending = await loop.run_in_executor(None, self.spool.pending)
            except OSError:
                log.exception("could not list the spool")
                continue
            for path in pending:
                if path not in self._waiting:
                    self.submit(path)

    async def stop(self) -> None:
        tasks = self._tasks + list(self._delayed)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks = []
        self._delayed.clear()

    def submit(self, path: Path) -> None:
        if path in self._queued:
            return
        self._queued.add(path)
        self.idle.clear()
        self.queue.put_nowait(path)

    async def _run(self) -> None:
        while True:
            path = await self.queue.get()
            try:
                await self.process(path)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one bad message must not stop the worker.
                log.exception("processing %s failed; it stays in the spool", path.name)
                await self._after_failure(path)
            finally:
                self._queued.discard(path)
                self.queue.task_done()
                if self.queue.empty() and not self._queued:
                    self.idle.set()

    async def _after_failure(self, path: Path) -> None:
        """Retries a failed message later, or past its deadline answers it and sets it aside."""
        loop = asyncio.get_running_loop()
        try:
            envelope = await loop.run_in_executor(None, self.spool.envelope, path)
        except FileNotFoundError:
            return
        except ValueError:  # Not even the envelope line can be read: nothing to retry.
            await loop.run_in_executor(None, self.spool.quarantine, path,
                                       _reason("envelope_unreadable"))
            return
        left = self.deadline - age_seconds(envelope, clock.now())
        if left <= 0:
            try:
                await self._give_up(path)
                return
            except Exception:  # noqa: BLE001 - retried like any failure.
                log.exception("could not set %s aside", path.name)
                left = RETRY_DELAYS[-1]
        self._retry_later(path, max(0.0, left))

    def _retry_later(self, path: Path, left: float = float("inf")) -> None:
        attempt = self._retries.get(path, 0)
        self._retries[path] = attempt + 1
        delay = min(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)], left)
        self._waiting.add(path)
        task = asyncio.create_task(self._resubmit(path, delay))
        self._delayed.add(task)
        task.add_done_callback(self._delayed.discard)

    async def _resubmit(self, path: Path, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
        finally:
            self._waiting.discard(path)
        if path.exists():
            self.submit(path)

    async def process(self, path: Path) -> str:
        """Processes one spool file; returns what came of it (for logs and tests)."""
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return "gone"  # Another task or instance finished it.
        if size > LARGE_MESSAGE:
            async with self._large:
                return await self._process_file(path)
        return await self._process_file(path)

    async def _process_file(self, path: Path) -> str:
        # Every log line of this message's work, the core's included, carries its spool id.
        with logs.scope(path.name):
            started = time.perf_counter()
            outcome = await self._process_spooled(path)
            log.info("message processed: %s in %.1f ms", outcome,
                     (time.perf_counter() - started) * 1000)
            return outcome

    async def _process_spooled(self, path: Path) -> str:
        loop = asyncio.get_running_loop()
        try:
            spooled = await loop.run_in_executor(None, self.spool.read, path)
        except FileNotFoundError:
            return "gone"
        envelope = spooled.envelope
        if envelope.get("command") == BOUNCE:
            outcome = await bounces.process(self.svc, envelope, spooled.raw)
            await loop.run_in_executor(None, self.spool.remove, path)
            self._retries.pop(path, None)
            return outcome
        content_hash = await loop.run_in_executor(None, mime.content_sha256, spooled.raw)
        try:
            mail = await loop.run_in_executor(None, mime.parse, spooled.raw)
        except MessageUnreadableError as exc:
            # Parsing again would fail again: answer now, and set the message aside.
            return await self._set_aside(spooled, content_hash, exc)
        headers = parse_headers(spooled.raw)  # the header section only, for the rules
        del spooled
        key = _key(mail, content_hash, envelope)
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                outcome = await self._process(key, content_hash, envelope, mail, headers)
        finally:
            if not lock.locked():
                self._locks.pop(key, None)
        await loop.run_in_executor(None, self.spool.remove, path)
        self._retries.pop(path, None)
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

    async def _set_aside(self, spooled, content_hash: str, exc: ParapheError) -> str:
        """A message that cannot be read: its sender told why (unless a robot), then quarantined."""
        envelope = spooled.envelope
        mail = mime.parse_headers_only(spooled.raw)
        headers = parse_headers(spooled.raw)
        key = _key(mail, content_hash, envelope)
        record, _ = await _record(key, content_hash, envelope, mail)
        if record.state == "done":
            await asyncio.get_running_loop().run_in_executor(None, self.spool.remove,
                                                             spooled.path)
            return "duplicate"
        reply = await self._answer(key, envelope, mail, headers,
                                   lambda ctx: replies.unreadable(ctx, exc), kind="unreadable")
        reason = _reason(exc.code, cause=errors.cause(exc), reply=reply)
        await InboundMessage.filter(id=record.id).update(
            state="quarantined", outcome={"quarantined": reason}, done_at=clock.now())
        await asyncio.get_running_loop().run_in_executor(None, self.spool.quarantine,
                                                         spooled.path, reason)
        self._retries.pop(spooled.path, None)
        metrics.MAILS.labels("quarantined").inc()
        delivery.poke()
        return "quarantined"

    async def _give_up(self, path: Path) -> None:
        """Past the deadline: the sender is told it failed and nothing was billed; set aside."""
        loop = asyncio.get_running_loop()
        spooled = await loop.run_in_executor(None, self.spool.read, path)
        envelope = spooled.envelope
        mail = mime.parse_headers_only(spooled.raw)
        headers = parse_headers(spooled.raw)
        content_hash = await loop.run_in_executor(None, mime.content_sha256, spooled.raw)
        key = _key(mail, content_hash, envelope)
        reply = None
        try:
            reply = await self._answer(key, envelope, mail, headers, replies.internal_error,
                                       kind="failed")
            await InboundMessage.filter(key=key).exclude(state="done").update(
                state="quarantined", outcome={"quarantined": _reason("deadline", reply=reply)},
                done_at=clock.now())
        except Exception:  # noqa: BLE001 - the database may be what keeps failing.
            log.exception("could not answer %s past its deadline", path.name)
        await loop.run_in_executor(None, self.spool.quarantine, path,
                                   _reason("deadline", reply=reply))
        self._retries.pop(path, None)
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
