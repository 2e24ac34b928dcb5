"""The signing engine's worker processes, and the channel that carries their jobs.

One process per slot, with a socket pair between it and the service. The service's event
loop writes the jobs and reads the answers on its end itself (add_reader, add_writer), with
no thread in between: a ProcessPoolExecutor hands each job to a feeder thread and each
answer to a management thread, and their wake-ups and GIL handoffs took a quarter of the
main process's time when it sealed under load (issue 21).

A frame is multiprocessing's (a 4-byte big-endian length, or -1 and an 8-byte one), so the
worker reads and writes with a plain blocking Connection; each holds a job's number (8
bytes) and a pickle: (fn, args) to the worker, (ok, result or (exception, traceback)) back.
"""

from __future__ import annotations

import asyncio
import itertools
import pickle
import signal
import socket
import struct
import traceback
from multiprocessing.connection import Connection

_LENGTH = struct.Struct("!i")
_LONG_LENGTH = struct.Struct("!iQ")
_JOB = struct.Struct("!Q")
# What one read of the channel takes at most.
READ_BYTES = 256 * 1024
# No SIGPIPE when the worker is gone: the service's CLI may restore its default action.
_SEND_FLAGS = getattr(socket, "MSG_NOSIGNAL", 0)


class WorkerError(Exception):
    """A job's answer is lost: its worker stopped (killed, out of memory, or the engine
    closed) or the answer could not be read. The job may be tried again."""


class RemoteTraceback(Exception):
    """The worker's traceback, chained to the exception a job raised there."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return self.text


def _header(size: int) -> bytes:
    if size > 0x7FFFFFFF:
        return _LONG_LENGTH.pack(-1, size)
    return _LENGTH.pack(size)


class Worker:
    """One worker process and the service's end of its channel, on the running loop.

    Jobs run one at a time in the worker, in the order they were sent; any number may be in
    flight. Sending never blocks the loop: what the socket does not take at once waits in
    `_outbox` until it is writable, as jobs waited in the executor's queue before. The
    engine's slots spread jobs by what each worker has in flight, which bounds this."""

    def __init__(self, context, initializer, initargs: tuple, *, name: str) -> None:
        self.loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        try:
            # Daemonic: multiprocessing's exit handler ends it if close() was never called.
            self.process = context.Process(target=_serve, args=(theirs, initializer, initargs),
                                           name=name, daemon=True)
            self.process.start()
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()  # The worker has its own copy now.
        ours.setblocking(False)
        self._sock = ours
        self._fd = ours.fileno()
        self._jobs = itertools.count()
        self._pending: dict[int, asyncio.Future] = {}
        self._inbox = bytearray()
        self._outbox = bytearray()
        self.alive = True
        self.loop.add_reader(self._fd, self._readable)

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def submit(self, fn, args: tuple) -> asyncio.Future:
        """Sends `fn(*args)` to the worker; the future has its result or its exception.
        Raises what pickling the job raises, and WorkerError if the worker stopped."""
        if not self.alive:
            raise WorkerError("the signing worker stopped")
        payload = pickle.dumps((fn, args), pickle.HIGHEST_PROTOCOL)
        job = next(self._jobs)
        head = _header(_JOB.size + len(payload)) + _JOB.pack(job)
        future = self.loop.create_future()
        self._pending[job] = future
        self._send(head, payload)
        return future

    def _send(self, head: bytes, payload: bytes) -> None:
        sent = 0
        if not self._outbox:
            try:
                # Both parts in one call, without joining them in a copy of the document.
                sent = self._sock.sendmsg((head, payload), (), _SEND_FLAGS)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError as exc:
                self._lost(exc)
                return
            if sent == len(head) + len(payload):
                return
            self.loop.add_writer(self._fd, self._writable)
        if sent < len(head):
            self._outbox += head[sent:]
            self._outbox += payload
        else:
            self._outbox += memoryview(payload)[sent - len(head):]

    def _writable(self) -> None:
        try:
            sent = self._sock.send(self._outbox, _SEND_FLAGS)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(exc)
            return
        del self._outbox[:sent]
        if not self._outbox:
            self.loop.remove_writer(self._fd)

    def _readable(self) -> None:
        try:
            data = self._sock.recv(READ_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(exc)
            return
        if not data:  # The worker's end is closed: it exited.
            self._lost(None)
            return
        inbox = self._inbox
        inbox += data
        while len(inbox) >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(inbox)
            start = _LENGTH.size
            if size == -1:
                if len(inbox) < _LONG_LENGTH.size:
                    return
                size, start = _LONG_LENGTH.unpack_from(inbox)[1], _LONG_LENGTH.size
            end = start + size
            if len(inbox) < end:
                return
            (job,) = _JOB.unpack_from(inbox, start)
            body = inbox[start + _JOB.size:end]
            del inbox[:end]
            self._answer(job, body)

    def _answer(self, job: int, body: bytearray) -> None:
        future = self._pending.pop(job, None)
        if future is None or future.done():  # Its caller was cancelled.
            return
        try:
            ok, value = pickle.loads(body)
        except Exception as exc:
            future.set_exception(WorkerError(f"the signing worker's answer is unreadable: "
                                             f"{exc!r}"))
            return
        if ok:
            future.set_result(value)
        else:
            error, text = value
            error.__cause__ = RemoteTraceback(text)
            future.set_exception(error)

    def _lost(self, exc: BaseException | None) -> None:
        """The channel is closed: every job in flight fails, the worker is not used again."""
        if not self.alive:
            return
        self.alive = False
        self.loop.remove_reader(self._fd)
        self.loop.remove_writer(self._fd)
        self._sock.close()
        self._outbox.clear()
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done() and not self.loop.is_closed():
                future.set_exception(WorkerError("the signing worker stopped"))

    def stop(self, timeout: float) -> None:
        """Closes the channel (jobs in flight fail) and waits up to `timeout` seconds for
        the worker to end the job under way and exit; then kills it."""
        self._lost(None)
        self.process.join(timeout)
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join(5)


def _serve(sock: socket.socket, initializer, initargs: tuple) -> None:
    """The worker's main: runs jobs until the service closes its end of the channel."""
    # Ctrl-C in a terminal reaches the whole process group: the service decides when its
    # workers stop (it closes the channel), and no job is cut short with a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(sock.detach())
    initializer(*initargs)
    while True:
        try:
            frame = conn.recv_bytes()
        except (EOFError, OSError):
            return
        job = frame[:_JOB.size]
        try:
            fn, args = pickle.loads(memoryview(frame)[_JOB.size:])
            answer = (True, fn(*args))
        except BaseException as exc:
            answer = (False, (exc, traceback.format_exc()))
        frame = fn = args = None  # Not held while the worker waits for its next job.
        try:
            payload = pickle.dumps(answer, pickle.HIGHEST_PROTOCOL)
        except BaseException as exc:
            error = WorkerError(f"the signing worker's answer cannot be sent: {exc!r}")
            payload = pickle.dumps((False, (error, traceback.format_exc())))
        answer = None
        try:
            conn.send_bytes(job + payload)
        except OSError:  # The service closed the channel while this job ran.
            return
