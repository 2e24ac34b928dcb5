"""The spool worker: each accepted message is parsed, checked by its chain, run, and answered once."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from mail_gateway import delivery, mime, replies, rules
from mail_gateway.commands import help as help_command
from mail_gateway.commands import seal as seal_command
from mail_gateway.commands import collect as collect_command
from mail_gateway.commands import verify as verify_command
from mail_gateway.context import MailContext
from mail_gateway.sender_auth import parse_headers
from mail_gateway.spool import Spool
from workflows import clock
from workflows.actors import Actor
from workflows.errors import ParapheError
from workflows.models import InboundMessage, Person

log = logging.getLogger(__name__)

COMMANDS = {"seal": seal_command.run, "collect": collect_command.run, "verify": verify_command.run,
            "help": help_command.run}
# A message whose processing fails unexpectedly is retried after these delays; after the last
# one its sender gets a reply saying so, rather than silence.
RETRY_DELAYS = (1.0, 5.0, 30.0, 120.0, 600.0)
# A message over this size holds several copies of a big PDF while it is processed (raw,
# parsed, decoded, signed); only one such message is processed at a time to bound memory.
LARGE_MESSAGE = 2 * 1024 * 1024


class SpoolWorker:
    """Processes spool files with a few concurrent tasks; resumes what a restart finds."""

    def __init__(self, svc, spool: Spool, *, concurrency: int = 4) -> None:
        self.svc = svc
        self.spool = spool
        self.concurrency = concurrency
        self.queue: asyncio.Queue[Path] = asyncio.Queue()
        self._queued: set[Path] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: list[asyncio.Task] = []
        self._retries: dict[Path, int] = {}
        self._delayed: set[asyncio.Task] = set()
        self.idle = asyncio.Event()
        self._large = asyncio.Semaphore(1)

    def start(self) -> None:
        self.spool.clean_tmp()
        for path in self.spool.pending():
            self.submit(path)
        self._tasks = [asyncio.create_task(self._run(), name=f"spool-worker-{i}")
                       for i in range(self.concurrency)]

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
                self._retry_later(path)
            finally:
                self._queued.discard(path)
                self.queue.task_done()
                if self.queue.empty() and not self._queued:
                    self.idle.set()

    def _retry_later(self, path: Path) -> None:
        attempt = self._retries.get(path, 0)
        self._retries[path] = attempt + 1
        task = asyncio.create_task(self._resubmit(path, RETRY_DELAYS[min(
            attempt, len(RETRY_DELAYS) - 1)]))
        self._delayed.add(task)
        task.add_done_callback(self._delayed.discard)

    async def _resubmit(self, path: Path, delay: float) -> None:
        await asyncio.sleep(delay)
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
        loop = asyncio.get_running_loop()
        try:
            spooled = await loop.run_in_executor(None, self.spool.read, path)
        except FileNotFoundError:
            return "gone"
        envelope = spooled.envelope
        content_hash = await loop.run_in_executor(None, mime.content_sha256, spooled.raw)
        mail = await loop.run_in_executor(None, mime.parse, spooled.raw)
        headers = parse_headers(spooled.raw)  # the header section only, for the rules
        del spooled
        key = mime.message_key(mail.message_id, content_hash, envelope["command"]
                               + "+" + (envelope.get("cabinet") or ""))
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
        record = await _record(key, content_hash, envelope, mail)
        if record.state == "done":
            log.info("message %s already processed; redelivery ignored", mail.message_id)
            return "duplicate"
        await InboundMessage.filter(id=record.id).update(attempts=F("attempts") + 1)
        person = await Person.get_or_none(id=envelope["person_id"])
        if person is None:
            await _done(record, {"ignored": "no person"})
            return "ignored"
        actor = Actor(person_id=person.id, channel="mail", origin={
            "message_id": mail.message_id, "auth": envelope["auth"], "to": envelope["rcpt"]})
        ctx = MailContext(svc=self.svc, key=key, command=envelope["command"], mail=mail,
                          person=person, actor=actor, address_cabinet=envelope.get("cabinet"),
                          mail_from=envelope.get("mail_from") or "", headers=headers)
        try:
            await rules.run_chain(ctx)
            reply = await COMMANDS[ctx.command](ctx)
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
        await _done(record, {"reply": reply.template, "notification": notification.id,
                             "cause": reply.context.get("cause", {}).get("code"),
                             "sealed": len(reply.attachments)})
        delivery.poke()
        return reply.template


async def _record(key: str, content_hash: str, envelope: dict,
                  mail: mime.InboundMail) -> InboundMessage:
    record = await InboundMessage.get_or_none(key=key)
    if record is not None:
        return record
    try:
        return await InboundMessage.create(
            key=key, message_id=mail.message_id, content_sha256=content_hash,
            command=envelope["command"], sender=(mail.from_address or "")[:254],
            person_id=envelope.get("person_id"), auth=envelope.get("auth", {}),
            received_at=clock.now())
    except IntegrityError:  # Another instance recorded it first.
        return await InboundMessage.get(key=key)


async def _done(record: InboundMessage, outcome: dict) -> None:
    await InboundMessage.filter(id=record.id).update(state="done", outcome=outcome,
                                                     done_at=clock.now())
