"""The signing engine: PAdES work in a pool of worker processes, so the service's loop keeps
answering.

Each worker builds its signers and its timestamper once, from the settings alone, through
the trust service's `load_signer` / `load_timestamper`, and keeps one event loop for
pyHanko's async API. The loop of the service only ships bytes and awaits.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import mmap
import multiprocessing
import os
import shutil
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign.general import SigningError

from compat import pyhanko as compat_pyhanko
from workflows import clock, observations
from workflows.errors import DocumentBrokenError, DocumentNotFoundError, TrustServiceError
from workflows.pdf import html as html_pdf
from workflows.pdf import pades
from workflows.pdf.intake import check_pdf, check_signable
from workflows.pdf.stamp import StampSpec
from workflows.pdf.timestamps import timestamps_of
from workflows.pdf.workers import Worker, WorkerError
from workflows.ports import CoreSettings
from workflows.trust.signers import (
    EmbeddedTimeStamper,
    answer_orders,
    load_signer,
    load_timestamper,
    tsa_identity_from_settings,
)
from workflows.trust.tsa import TSA_IDENTITY_FILE


# Room kept for the certificates of the TSA's chain inside each signature timestamp.
TSA_CHAIN_ALLOWANCE = 8 * 1024


def default_workers() -> int:
    """One worker per core the process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # Not Linux.
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class _SignJob:
    key: object  # workflows.trust.refs.SigningKeyRef
    material: pades.ValidationMaterial
    reason: str | None
    location: str | None
    name: str | None
    stamp: StampSpec | None
    field_name: str | None
    strict: bool
    intake: tuple[str, int] | None  # (file name, size limit): check the PDF first
    level: str = "B-LTA"  # or "B-LT": the DSS update without a document timestamp
    clock_offset: object = None  # the service's clock offset (timedelta), followed


class SigningEngine:
    """Signs and timestamps PDFs off the event loop; create one per service, `close()` at exit.

    Documents are signed in place in files of a private folder (mode 0700, files 0600):
    piping 10 MB through pickle both ways cost more than the signature itself. Documents
    up to INLINE_BYTES travel in the job instead, and the worker writes their file.
    """

    def __init__(self, settings: CoreSettings, *, workers: int | None = None) -> None:
        self.settings = settings
        configured = workers if workers is not None else getattr(settings, "signing_workers", 0)
        self.workers = int(configured or 0) or default_workers()
        # One channel per worker rather than one queue for them all: the signatures of one
        # document go to the worker that made the previous one, which still holds the
        # digest state and the parse of the version it wrote (_kept_lineage,
        # compat.pyhanko.known_prefixes) and need not hash nor parse the whole file again.
        # Other jobs go to the least busy worker.
        self._workers: list[Worker | None] = [None] * self.workers
        self._busy = [0] * self.workers
        self._spool: Path | None = None

    def _slot(self, affinity: str | None) -> int:
        if affinity is not None:
            slot = int(hashlib.sha256(affinity.encode()).hexdigest()[:8], 16) % self.workers
            # Its worker, unless it is busy (a long report) while another is idle: then a
            # worker that parses and hashes the document afresh is still the quicker.
            if self._busy[slot] == 0 or min(self._busy) > 0:
                return slot
        return min(range(self.workers), key=self._busy.__getitem__)

    def _worker(self, slot: int) -> Worker:
        worker = self._workers[slot]
        if worker is not None and worker.alive and worker.loop is asyncio.get_running_loop():
            return worker
        if worker is not None:  # Stopped (its jobs failed), or left by a loop now gone.
            worker.stop(timeout=5)
        # forkserver: workers do not inherit the service's sockets, database
        # connections or threads, and start from a process that has imported pyHanko.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["workflows.pdf.engine"])
        worker = self._workers[slot] = Worker(context, _init_worker, (self.settings,),
                                              name=f"signing-worker-{slot}")
        return worker

    def _spool_dir(self) -> Path:
        if self._spool is None:
            # On disk under PARAPHE_HOME, not in /dev/shm: the kernel may drop these pages
            # under pressure, where tmpfs pages would count as the service's memory.
            base = Path(self.settings.home) / "tmp"
            base.mkdir(parents=True, exist_ok=True)
            self._spool = Path(tempfile.mkdtemp(prefix="signing-", dir=base))
        return self._spool

    async def _run(self, fn, *args, affinity: str | None = None, slot: int | None = None):
        slot = self._slot(affinity) if slot is None else slot
        self._busy[slot] += 1
        # For the workers' utilisation (paraphe.metrics): jobs in the pool beside its size,
        # and each job's time there (waiting for a worker included).
        observations.emit("signing_job_started", workers=self.workers)
        started = time.perf_counter()
        try:
            return await self._worker(slot).submit(fn, args)
        except WorkerError as exc:
            # Its worker died (killed, out of memory): the next job starts a fresh one.
            raise TrustServiceError(f"{exc}; try again") from None
        finally:
            self._busy[slot] -= 1
            observations.emit("signing_job", seconds=time.perf_counter() - started)

    async def _run_on_file(self, data: bytes, fn, *args) -> bytes:
        """Runs `fn(path, *args)` in a worker on a spool file holding `data`; returns what
        the file holds afterwards. The event loop never does the file's I/O: a small
        document travels in the job and the worker writes and reads its file; a large one
        is written and read back by a thread."""
        if len(data) <= INLINE_BYTES:
            return await self._run(_on_spool_file, str(self._spool_dir()), data, fn, *args)
        loop = asyncio.get_running_loop()
        name = await loop.run_in_executor(None, _spool_write, str(self._spool_dir()), data)
        try:
            await self._run(fn, name, *args)
            return await loop.run_in_executor(None, _read_bytes, name)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)

    async def call(self, fn, *args):
        """`fn(*args)` in a worker, for CPU-bound work of the transports (a mail's MIME): `fn`
        and its arguments are pickled, so a module-level function with small arguments."""
        return await self._run(fn, *args)

    async def warm_up(self) -> None:
        """Starts every worker now, so the first seals do not pay for process start."""
        await asyncio.gather(*(self._run(_ping, slot=slot) for slot in range(self.workers)))

    async def sign(self, data: bytes, key, *, reason: str | None, location: str | None = None,
                   name: str | None = None, stamp: StampSpec | None = None, bundle,
                   field_name: str | None = None, strict: bool = True,
                   intake: tuple[str, int] | None = None, level: str = "B-LTA") -> bytes:
        """Returns `data` with one more PAdES signature by `key` (a SigningKeyRef), at
        `level` B-LTA (the signature, then its validation data and a document timestamp
        over them) or B-LT (no document timestamp).

        `bundle` (a ValidationBundle) goes to the DSS after the signature, its OCSP orders
        answered then; `stamp` makes it visible.
        Signatures already in the file stay valid (incremental update). With
        `intake=(filename, max_bytes)` the worker first runs `check_pdf` on the file (so
        untrusted bytes are parsed off the service's process too) and signs in the mode
        it found. Raises the Document*Error family of the intake, DocumentBrokenError when
        pyHanko cannot sign the file, and TrustServiceError (or a KeystoreError) when the
        key, the TSA or a worker fails.
        """
        job = _SignJob(key=key, material=_material(bundle), reason=reason, location=location,
                       name=name, stamp=stamp, field_name=field_name, strict=strict,
                       intake=intake, level=level, clock_offset=clock.offset())
        return await self._run_on_file(data, _sign_in_worker, job)

    async def sign_file(self, source: Path, key, *, reason: str | None,
                        name: str | None = None, stamp: StampSpec | None = None, bundle,
                        field_name: str | None = None, level: str = "B-LT",
                        source_sha256: str | None = None, lineage: str | None = None
                        ) -> tuple[Path, str]:
        """Like `sign`, for a stored file that stays untouched: the worker copies it (in the
        kernel), signs the copy and hashes it, so a large document never crosses the
        service's process. Returns the signed copy, in the spool folder (the caller moves
        it away or unlinks it), and its SHA-256. Raises what `sign` raises, and
        DocumentNotFoundError when `source` is missing.

        `source_sha256` (the stored version's digest) lets the worker that wrote that
        version hash only the bytes this signature appends; `lineage` (e.g. a collection
        document) sends every signature of one document to the same worker, so it does."""
        job = _SignJob(key=key, material=_material(bundle), reason=reason, location=None,
                       name=name, stamp=stamp, field_name=field_name, strict=True, intake=None,
                       level=level, clock_offset=clock.offset())
        fd, target = tempfile.mkstemp(suffix=".pdf", dir=self._spool_dir())
        os.close(fd)
        try:
            sha256 = await self._run(_sign_copy_in_worker, str(source), target, job,
                                     source_sha256, affinity=lineage)
        except FileNotFoundError:
            os.unlink(target)
            raise DocumentNotFoundError(f"{source.name} is not in the store") from None
        except BaseException:
            os.unlink(target)
            raise
        return Path(target), sha256

    async def check_signable(self, data: bytes, filename: str, max_bytes: int):
        """Runs the intake's `check_signable` (strict parse, real page count, dry run of the
        signing path) in a worker, on a spool file it maps; returns its PdfInfo. Raises the
        Document*Error family."""
        loop = asyncio.get_running_loop()
        name = await loop.run_in_executor(None, _spool_write, str(self._spool_dir()), data)
        try:
            return await self._run(_check_signable_in_worker, name, filename, max_bytes)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)

    async def timestamp(self, data: bytes, bundle, *, strict: bool = True) -> bytes:
        """Returns `data` with the bundle added to the DSS and a document timestamp over it
        (PAdES B-LTA). Raises DocumentBrokenError and TrustServiceError."""
        return await self._run_on_file(data, _timestamp_in_worker, _material(bundle), strict,
                                       clock.offset())

    async def render_pdfa(self, html: str, files: tuple = (), *, title: str = "") -> bytes:
        """The PDF/A-3b of `html` with `files` (AssociatedFile) attached, rendered in a
        worker: laying out a report costs hundreds of milliseconds of CPU."""
        return await self._run(html_pdf.render_pdfa, html, tuple(files), title)

    async def timestamps(self, paths: list[str]) -> list[list[dict]]:
        """The timestamps inside each signed PDF of `paths` (see pdf.timestamps), parsed in a
        worker. Raises DocumentBrokenError when a file cannot be read."""
        try:
            return [await self._run(timestamps_of, path) for path in paths]
        except (PdfError, OSError, ValueError) as exc:
            raise DocumentBrokenError(f"cannot read the timestamps: {exc}") from None

    def close(self) -> None:
        """Stops the workers (each ends the job under way; the jobs still waiting fail) and
        removes the spool folder."""
        for slot, worker in enumerate(self._workers):
            if worker is not None:
                worker.stop(timeout=CLOSE_SECONDS)
                self._workers[slot] = None
        if self._spool is not None:
            shutil.rmtree(self._spool, ignore_errors=True)
            self._spool = None


# How long close() waits for a worker to end its job before killing it.
CLOSE_SECONDS = 30


def _material(bundle) -> pades.ValidationMaterial:
    if bundle is None:
        return pades.ValidationMaterial()
    return pades.ValidationMaterial(certs=tuple(bundle.certs), crls=tuple(bundle.crls),
                                    ocsps=tuple(bundle.ocsps),
                                    orders=tuple(getattr(bundle, "orders", ())))


# --- Worker side: everything below runs in the worker processes. ----------------------

_state: dict = {}


def _init_worker(settings: CoreSettings) -> None:
    # A worker is a process of its own: the checks of compat.pyhanko run here too, and
    # only here is pyHanko's reader tuned.
    compat_pyhanko.install_reader()
    _state.clear()
    _state["settings"] = settings
    _state["loop"] = asyncio.new_event_loop()
    _state["materials"] = OrderedDict()
    _state["prefixes"] = OrderedDict()


# Up to this size a document crosses the process boundary inside the job (pickled), which
# costs the service less than writing, reading back and removing a file on its event loop.
INLINE_BYTES = 512 * 1024


def _spool_write(spool: str, data: bytes) -> str:
    # mkstemp creates the file with mode 0600: documents are confidential.
    fd, name = tempfile.mkstemp(suffix=".pdf", dir=spool)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    except BaseException:
        os.unlink(name)
        raise
    return name


def _read_bytes(name: str) -> bytes:
    with open(name, "rb") as fh:
        return fh.read()


def _on_spool_file(spool: str, data: bytes, fn, *args) -> bytes:
    """In a worker: `fn(path, *args)` on a spool file of its own holding `data`."""
    name = _spool_write(spool, data)
    try:
        fn(name, *args)
        return _read_bytes(name)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


def _ping() -> int:
    _timestamper()
    _settle()
    return os.getpid()


# Every this many jobs a worker thaws what it froze, so that frozen objects which have
# since dropped out of its caches (an older validation bundle, evicted parse results) and
# hold reference cycles are collected too, in one full collection.
UNFREEZE_EVERY = 500
_settled = 0


def _settle() -> None:
    """Frees a job's garbage now, then sets what survives (keys, the parse caches of
    compat.pyhanko) aside from later collections: otherwise a full collection
    over the caches of a worker that signed a large document would cost more than a
    signature, at random moments."""
    global _settled
    _settled += 1
    if _settled % UNFREEZE_EVERY == 0:
        gc.unfreeze()
    gc.collect()
    gc.freeze()


def _timestamper():
    settings = _state["settings"]
    ts = _state.get("timestamper")
    if settings.tsa_url:
        if ts is None:
            ts = _state["timestamper"] = load_timestamper(settings)
        return ts
    # The embedded TSA's unit is replaced every few years (TrustService.renew_tsa_if_due):
    # one stat per job notices it, and this worker then stamps with the new unit.
    try:
        version = os.stat(settings.home / "keys" / TSA_IDENTITY_FILE).st_mtime_ns
    except OSError:
        version = None
    if ts is None or _state.get("tsa_version") != version:
        ts = _state["timestamper"] = EmbeddedTimeStamper(tsa_identity_from_settings(settings))
        _state["tsa_version"] = version
    return ts


def _cached_material(material: pades.ValidationMaterial) -> pades.ValidationMaterial:
    # The trust service hands the same bundle while it is fresh: parse it once.
    cache: OrderedDict = _state["materials"]
    key = (material.certs, material.crls, material.ocsps, material.orders)
    found = cache.get(key)
    if found is None:
        found = cache[key] = material
        if len(cache) > 16:
            cache.popitem(last=False)
    return found


def _reserve_for(key) -> int:
    reserves = _state.setdefault("reserves", {})
    size = reserves.get(key.cert_der)
    if size is None:
        size = reserves[key.cert_der] = pades.bytes_to_reserve(
            [key.cert_der, *key.chain_ders, bytes(TSA_CHAIN_ALLOWANCE)])
    return size


class _ContainerTooSmall(Exception):
    pass


def _run_job(coro_factory):
    loop: asyncio.AbstractEventLoop = _state["loop"]
    try:
        return loop.run_until_complete(coro_factory())
    except SigningError as exc:
        if compat_pyhanko.container_too_small(exc):
            raise _ContainerTooSmall() from None
        raise DocumentBrokenError(f"the PDF cannot be signed: {exc}") from None
    except PdfError as exc:
        raise DocumentBrokenError(f"the PDF cannot be signed: {exc}") from None


def _in_place(path: str, attempt):
    """Runs `attempt(stream, size)` on the file; retries once with more room if needed."""
    with open(path, "r+b") as fh:
        original = os.fstat(fh.fileno()).st_size
        try:
            return _run_job(lambda: attempt(fh, 1))
        except _ContainerTooSmall:
            # An external TSA may answer with a bigger token than planned: undo the
            # partial update and retry with more room.
            fh.seek(original)
            fh.truncate()
            return _run_job(lambda: attempt(fh, 4))


def _intake(path: str, filename: str, max_bytes: int, check=None):
    check = check or check_pdf
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:  # mmap cannot map an empty file
            return check(b"", filename, max_bytes=max_bytes)
        # Mapped, not read: the intake only copies the parts it parses.
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as view:
            return check(view, filename, max_bytes=max_bytes)


def _check_signable_in_worker(path: str, filename: str, max_bytes: int):
    return _intake(path, filename, max_bytes, check_signable)


class _Lineage:
    """A file being appended to: the SHA-256 state after its first `size` bytes, and the
    digests of prefixes of it known to this worker (what compat.pyhanko's reader may
    splice kept sections for: known_prefixes)."""

    def __init__(self, size: int, state, known) -> None:
        self.size, self.state, self.known = size, state, list(known)

    def copy(self) -> _Lineage:
        return _Lineage(self.size, self.state.copy(), self.known)

    def advance(self, fh) -> None:
        """Hashes what was appended to `fh` since, and knows the digest of the whole."""
        _hash_from(fh, self.state, self.size)
        self.size = fh.tell()
        self.known = [*self.known, (self.size, self.state.hexdigest())][-KNOWN_PREFIXES:]

    def reading(self, fh):
        return compat_pyhanko.known_prefixes(fh, self.known, (self.size, self.state))


# The prefixes of a lineage worth knowing: the last few revisions.
KNOWN_PREFIXES = 4


def _sign_in_worker(path: str, job: _SignJob, lineage: _Lineage | None = None):
    """Signs the file at `path` in place; with `lineage` (what the worker knows of the file
    it starts from), returns the lineage of the signed file."""
    if job.clock_offset is not None:
        clock.set_offset(job.clock_offset)
    strict, pages = job.strict, None
    if job.intake is not None:
        info = _intake(path, *job.intake)
        strict, pages = info.strict, info.pages
    settings = _state["settings"]
    signer = load_signer(settings, job.key)
    material = _cached_material(job.material)
    reserved = _reserve_for(job.key)

    async def attempt(fh, factor: int):
        # A retry starts again from the file as it was: from the lineage as it was too.
        known = lineage.copy() if lineage is not None else None
        fh.seek(0)
        timestamper = _timestamper()
        with known.reading(fh) if known else contextlib.nullcontext():
            contents = await pades.sign_pdf(
                fh, signer=signer, timestamper=timestamper, bytes_reserved=reserved * factor,
                reason=job.reason, location=job.location, name=job.name, stamp=job.stamp,
                field_name=job.field_name, page_count=pages, strict=strict)
        if known:
            known.advance(fh)
        # Answered now, after the signature's timestamp, for the DSS update that follows.
        fresh = answer_orders(settings, material.orders)
        fh.seek(0)
        with known.reading(fh) if known else contextlib.nullcontext():
            if job.level == "B-LTA":
                await pades.timestamp_pdf(fh, timestamper=timestamper, material=material,
                                          extra_ocsps=fresh, sig_contents=contents,
                                          bytes_reserved=DOC_TIMESTAMP_RESERVE * factor,
                                          strict=strict)
            else:
                pades.add_validation_data(fh, material=material, extra_ocsps=fresh,
                                          sig_contents=contents, strict=strict)
        if known:
            known.advance(fh)
        return known

    signed = _in_place(path, attempt)
    _settle()
    return signed


# Lineages of the versions this worker wrote, by their SHA-256.
PREFIX_ENTRIES = 64


def _kept_lineage(sha256: str | None, size: int) -> _Lineage | None:
    """What this worker knows of the version `sha256` of `size` bytes when it wrote that
    version (the store names its file by that digest, and never changes it)."""
    found = _state["prefixes"].get(sha256) if sha256 else None
    if found is None or found.size != size:
        return None
    _state["prefixes"].move_to_end(sha256)
    return found.copy()


def _keep_lineage(sha256: str, lineage: _Lineage) -> None:
    prefixes: OrderedDict = _state["prefixes"]
    prefixes[sha256] = lineage.copy()
    while len(prefixes) > PREFIX_ENTRIES:
        prefixes.popitem(last=False)


def _hash_from(fh, state, start: int):
    """`state` fed with the file's bytes from `start` to its end."""
    fh.seek(start)
    while chunk := fh.read(pades.CHUNK):
        state.update(chunk)
        _hashed[0] += len(chunk)
    return state


# Bytes this worker hashed itself for stored versions (pyHanko's signature digest apart).
_hashed = [0]


def hashed_bytes() -> int:
    """In a worker: how many bytes `_hash_from` read so far (what the tests count)."""
    return _hashed[0]


def _sign_copy_in_worker(source: str, target: str, job: _SignJob,
                         source_sha256: str | None = None) -> str:
    """Copies the stored version `source` to `target`, signs the copy (appending to it) and
    returns its SHA-256. The copy's hash starts from the state this worker kept for the
    version it wrote last, so a signature hashes only what it appends; on a miss the
    version is hashed once, and checked against `source_sha256`."""
    shutil.copyfile(source, target)
    size = os.stat(target).st_size
    lineage = _kept_lineage(source_sha256, size)
    if lineage is None:
        with open(target, "rb") as fh:
            state = _hash_from(fh, hashlib.sha256(), 0)
        if source_sha256 is not None and state.hexdigest() != source_sha256:
            raise DocumentBrokenError("the stored document does not match its digest")
        lineage = _Lineage(size, state, [(size, state.hexdigest())])
    signed = _sign_in_worker(target, job, lineage)
    sha256 = signed.known[-1][1]
    _keep_lineage(sha256, signed)
    return sha256


# Room for a document timestamp: the token with the TSA's chain.
DOC_TIMESTAMP_RESERVE = pades.bytes_to_reserve([bytes(TSA_CHAIN_ALLOWANCE)])


def _timestamp_in_worker(path: str, material: pades.ValidationMaterial, strict: bool,
                         offset=None) -> None:
    if offset is not None:
        clock.set_offset(offset)
    material = _cached_material(material)

    async def attempt(fh, factor: int):
        fh.seek(0)
        fresh = answer_orders(_state["settings"], material.orders)
        await pades.timestamp_pdf(fh, timestamper=_timestamper(), material=material,
                                  extra_ocsps=fresh, bytes_reserved=DOC_TIMESTAMP_RESERVE * factor,
                                  strict=strict)

    _in_place(path, attempt)
    _settle()
