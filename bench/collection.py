"""Collection benchmark: N signers all signing one collection through the HTTP routes, printing one JSON.

The real web app on loopback (SQLite, a temporary PARAPHE_HOME, the embedded trust service,
the signing engine with one worker per core). Each simulated signer opens their page, asks
for a code, reads it from the outbox and signs; `--concurrency` of them at once. Reported:
total time, time per signature as the document grows, server time p50/p95 per request kind
(page, code, sign), final PDF size, and its validation (pyHanko; B-LTA expected).

    python bench/collection.py [--signers 200] [--concurrency 50] [--verify full|sample|none]
                               [--postgres postgres://postgres@127.0.0.1:5432]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from tests.pdfs import make_pdf  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)


def _kind(path: str, method: str) -> str | None:
    if not path.startswith("/s/"):
        return None
    if method == "GET" and path.count("/") == 2:
        return "page"
    if path.endswith("/code"):
        return "code"
    if path.endswith("/sign"):
        return "sign"
    return None


async def _validate(svc, final: bytes, mode: str, port: int) -> dict:
    """pdfsig over every signature; pyHanko over all ("full") or the last signature and the
    document timestamp ("sample": pyHanko's diff analysis of the first signature of a
    1,000-revision file alone takes minutes)."""
    from tests.validators import pdfsig_report
    from workflows.pdf.verify import verify_pdf

    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "final.pdf"
        path.write_bytes(final)
        t = time.perf_counter()
        entries = await pdfsig_report(path, svc.trust.root_pem())
        regular = [e for e in entries if e.get("Signature Type") != "unknown"]
        out["pdfsig"] = {
            "signatures": len(regular),
            "valid": sum(e.get("Signature Validation") == "Signature is Valid." for e in regular),
            "trusted": sum(e.get("Certificate Validation") == "Certificate is Trusted."
                           for e in regular),
            "seconds": round(time.perf_counter() - t, 1)}
    t = time.perf_counter()
    if mode == "full":
        report = await verify_pdf(final, trust_roots=svc.trust.trust_roots())
        levels = [s.get("level") for s in report["signatures"]]
        out["pyhanko"] = {"mode": "every signature", "ok": report["ok"],
                          "signatures": len(levels), "b_lta": levels.count("B-LTA")}
    else:
        out["pyhanko"] = await _validate_tail(svc, final)
    out["pyhanko"]["seconds"] = round(time.perf_counter() - t, 1)
    return out


async def _validate_tail(svc, final: bytes) -> dict:
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import (
        DocumentSecurityStore,
        async_validate_pdf_signature,
        async_validate_pdf_timestamp,
    )

    reader = PdfFileReader(io.BytesIO(final), strict=False)
    sigs = list(reader.embedded_signatures)
    dss = DocumentSecurityStore.read_dss(reader)
    vc = dss.as_validation_context({"trust_roots": svc.trust.trust_roots(),
                                    "allow_fetching": False, "revocation_mode": "hard-fail"})
    last = [s for s in sigs if s.sig_object_type != "/DocTimeStamp"][-1]
    status = await async_validate_pdf_signature(last, signer_validation_context=vc)
    stamp = [s for s in sigs if s.sig_object_type == "/DocTimeStamp"][-1]
    ts = await async_validate_pdf_timestamp(stamp, validation_context=vc)
    return {"mode": "last signature + document timestamp",
            "last_signature": {"intact": status.intact, "valid": status.valid,
                               "trusted": status.trusted,
                               "timestamp_trusted": bool(status.timestamp_validity
                                                         and status.timestamp_validity.trusted)},
            "document_timestamp": {"intact": ts.intact, "valid": ts.valid,
                                   "trusted": ts.trusted},
            "signatures_in_file": len(sigs)}


async def _pg_admin(base: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(f"{base}/postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def run(signers: int, concurrency: int, verify: str, postgres: str | None = None) -> dict:
    database_url, pg_name = "", None
    if postgres:
        pg_name = f"paraphe_bench_{os.getpid()}"
        await _pg_admin(postgres, f'CREATE DATABASE "{pg_name}"')
        database_url = f"{postgres}/{pg_name}"
    try:
        return await _run(signers, concurrency, verify, database_url)
    finally:
        if pg_name:
            await _pg_admin(postgres, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


async def _run(signers: int, concurrency: int, verify: str, database_url: str) -> dict:
    from paraphe.db import close_database, open_database
    from paraphe.settings import Settings
    from web.app import build_app
    from workflows import billing, collections, people, terms
    from workflows.actors import Actor
    from workflows.collections import SignerSpec
    from workflows.models import Collection, CollectionDocument, Notification
    from workflows.services import Services

    home = Path(tempfile.mkdtemp(prefix="paraphe-bench-collection-"))
    port = _free_port()
    os.environ["PARAPHE_CONFIG"] = str(home / "absent.toml")
    settings = Settings(home=home, public_url=f"http://127.0.0.1:{port}",
                        database_url=database_url,
                        master_key="bench-master-key-0000000000000000")
    settings.ensure_home()
    await open_database(settings)
    svc = await Services.start(settings)
    await svc.engine.warm_up()
    server_times: dict[str, list[float]] = {"page": [], "code": [], "sign": []}

    @web.middleware
    async def timing(request, handler):
        started = time.perf_counter()
        try:
            return await handler(request)
        finally:
            kind = _kind(request.path, request.method)
            if kind:
                server_times[kind].append(time.perf_counter() - started)

    app = build_app(svc)
    app.middlewares.append(timing)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    op = Actor.operator()
    try:
        await people.create_cabinet(op, slug="bench", name="Cabinet Bench")
        expert, _ = await people.add_person(op, email="expert@bench.test", name="Expert Bench",
                                            cabinet="bench", role="expert")
        await terms.accept_terms(svc, Actor(expert.id, "cli"), "bench",
                                 svc.settings.terms_version)
        await billing.add_credit(op, await people.get_cabinet("bench"),
                                 signers + concurrency + 10)
        specs = [SignerSpec(f"Signataire {i}", f"s{i}@bench.test") for i in range(signers)]
        created = time.perf_counter()
        collection = await collections.create_collection(
            svc, Actor(person_id=expert.id, channel="api"), cabinet="bench",
            documents=[("contrat.pdf", make_pdf(2, text="Contrat de bench"))], signers=specs,
            title="Bench")
        create_s = time.perf_counter() - created
        links = dict(await Notification.filter(template="signer/invitation").values_list(
            "recipient", "context"))
        done_at: list[float] = []
        failures: list[str] = []
        gate = asyncio.Semaphore(concurrency)

        async def sign_one(session: aiohttp.ClientSession, spec: SignerSpec) -> None:
            link = links[spec.email]["link"]
            async with gate:
                async with session.get(link) as r:
                    await r.read()
                    if r.status != 200:
                        failures.append(f"page {r.status}")
                        return
                async with session.post(link + "/code", data={"channel": "mail"},
                                        allow_redirects=False) as r:
                    if r.status != 303:
                        failures.append(f"code {r.status}")
                        return
                code = (await Notification.filter(recipient=spec.email, template="signer/code")
                        .order_by("-id").first()).context["code"]
                async with session.post(link + "/sign", data={"code": code, "consent": "yes"},
                                        allow_redirects=False) as r:
                    if r.status != 303:
                        failures.append(f"sign {r.status}: {(await r.text())[:200]}")
                        return
                done_at.append(time.perf_counter())

        # Phase 1: `concurrency` signers at once opening their page and asking for a code
        # (no signing under way): the latency a signer sees before signing.
        probe_specs = [SignerSpec(f"Sonde {i}", f"p{i}@bench.test") for i in range(concurrency)]
        await collections.create_collection(
            svc, Actor(person_id=expert.id, channel="api"), cabinet="bench",
            documents=[("sonde.pdf", make_pdf(1, text="Sonde"))], signers=probe_specs,
            title="Probe")
        links.update(dict(await Notification.filter(
            template="signer/invitation", recipient__startswith="p").values_list(
            "recipient", "context")))

        async def probe(session: aiohttp.ClientSession, spec: SignerSpec) -> None:
            link = links[spec.email]["link"]
            async with session.get(link) as r:
                await r.read()
            async with session.post(link + "/code", data={"channel": "mail"},
                                    allow_redirects=False) as r:
                await r.read()
            async with session.get(link + "?sent=mail") as r:
                await r.read()

        async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=concurrency * 2)) as session:
            await asyncio.gather(*(probe(session, s) for s in probe_specs))
        idle = {kind: {"n": len(v), "p50": _pct(v, 0.5), "p95": _pct(v, 0.95),
                       "max": _pct(v, 1.0)} for kind, v in server_times.items() if v}
        for values in server_times.values():
            values.clear()

        # Phase 2: every signer of the big collection signs, `concurrency` at once.
        started = time.perf_counter()
        connector = aiohttp.TCPConnector(limit=concurrency * 2)
        async with aiohttp.ClientSession(connector=connector) as session:
            await asyncio.gather(*(sign_one(session, s) for s in specs))
        total_s = time.perf_counter() - started
        fresh = await Collection.get(id=collection.id)
        doc = await CollectionDocument.get(collection_id=collection.id).prefetch_related("current")
        final = await svc.documents.read(doc.current.sha256)
        done_at.sort()
        gaps = [b - a for a, b in zip([started] + done_at, done_at)]
        buckets = []
        step = max(1, len(gaps) // 10)
        for i in range(0, len(gaps), step):
            chunk = gaps[i:i + step]
            buckets.append({"signatures": f"{i + 1}-{i + len(chunk)}",
                            "median_ms": round(statistics.median(chunk) * 1000, 1)})
        result = {
            "signers": signers, "concurrency": concurrency, "cores": svc.engine.workers,
            "database": settings.database_url.split(":", 1)[0], "create_collection_s": round(create_s, 2),
            "total_s": round(total_s, 1),
            "signatures_per_s": round(len(done_at) / total_s, 2) if total_s else None,
            "failures": len(failures), "failure_samples": failures[:5],
            "state": fresh.state, "finalized": fresh.finalized_at is not None,
            "time_per_signature_ms_as_document_grows": buckets,
            "server_ms_page_and_code_only": idle,
            "server_ms": {kind: {"n": len(v), "p50": _pct(v, 0.5), "p95": _pct(v, 0.95),
                                 "max": _pct(v, 1.0)} for kind, v in server_times.items()},
            "final_pdf_bytes": len(final),
            "stored_documents_bytes": sum(f.stat().st_size for f in
                                          (home / "documents").rglob("*") if f.is_file()),
            "targets": {"1000_signers_total_s_max": 300, "page_code_p95_ms_max": 100},
        }
        if verify != "none":
            result["validation"] = await _validate(svc, final, verify, port)
        return result
    finally:
        await runner.cleanup()
        await svc.close()
        await close_database()
        import shutil

        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signers", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--postgres", metavar="URL", default=None,
                        help="run on a throwaway PostgreSQL database at this server "
                             "(e.g. postgres://postgres@127.0.0.1:5432); default SQLite")
    parser.add_argument("--verify", choices=("full", "sample", "none"), default=None,
                        help="default: full up to 50 signers, else sample")
    args = parser.parse_args()
    verify = args.verify or ("full" if args.signers <= 50 else "sample")
    result = asyncio.run(run(args.signers, args.concurrency, verify, args.postgres))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
