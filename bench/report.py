"""Evidence report benchmark: the certificate of a completed collection of N signers, its HTML
built and its PDF/A-3 laid out (WeasyPrint), timed apart; prints one JSON.

The report's data is made up the way bench/collection.py's collection leaves it (one
document; every signer opens the page, has a code sent by e-mail and signs; one signature
timestamp per signer and the archive timestamp), with a real hash chain, so the printed
appendix can be checked. Nothing but the report is run: no database, no signing, no seal.
The rendering is the worker's function (workflows.pdf.html.render_pdfa), called here in
this process (`render_cpu_s`: its CPU time, less sensitive to a shared machine's load
than `render_s`). `--check` also reads the PDF back as a third party would (pdftotext, the
chain recomputed from the printed appendix by tests/evidence_chain_check.py, the JSON
attached); `--keep DIR` keeps the PDFs.

    python bench/report.py [--signers 100 300 1000] [--language fr] [--check] [--keep DIR]
                           [--profile N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, UTC
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from paraphe import templating  # noqa: E402
from workflows import evidence  # noqa: E402
from workflows.collections import report as reports  # noqa: E402
from workflows.pdf.html import AssociatedFile, render_pdfa  # noqa: E402

CONSENT = "J'ai lu le document et j'accepte de le signer électroniquement."
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def synthetic_report(signers: int) -> dict:
    """The report data of a completed collection of `signers` external signers."""
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    events: list[dict] = []
    prev = _sha("the platform's log before this collection")

    def add(kind: str, channel: str, data: dict, person_id: int | None = None) -> None:
        nonlocal prev
        at = start + timedelta(seconds=len(events) * 0.37)
        fields = {"seq": 1000 + len(events), "at": at, "kind": kind, "channel": channel,
                  "cabinet_id": 1, "person_id": person_id, "collection_id": 7,
                  "data": data, "prev_hash": prev}
        digest = evidence.event_hash(**fields)
        events.append({**fields, "at": evidence.timestamp_text(at), "hash": digest})
        prev = digest

    people = [(f"Signataire {i}", f"s{i}@bench.test") for i in range(1, signers + 1)]
    original = _sha("contrat original")
    add("collection.created", "api", {
        "actor": 2, "basis": "role:expert", "documents": [{"filename": "contrat.pdf",
                                                           "sha256": original}],
        "expiry_days": 15, "ordered": False, "title": "Bench",
        "signers": [{"email": e, "internal": False, "name": n} for n, e in people]}, 2)
    add("collection.launched", "api", {"actor": 2, "basis": "role:expert", "cost": signers,
                                       "expires_at": "2026-12-16T09:00:00+00:00"}, 2)
    add("signer.invited", "system", {"actor": None, "channel": "mail", "signers": [
        {"email": e, "name": n, "signer": i} for i, (n, e) in enumerate(people, 1)]})
    before = original
    for i, (name, email) in enumerate(people, 1):
        origin = {"email": email, "ip": "127.0.0.1", "signer": i, "user_agent": BROWSER}
        add("signer.opened", "web", {"actor": None, "email": email, "name": name,
                                     "origin": origin, "signer": i})
        add("signer.code_sent", "web", {"actor": None, "channel": "mail", "origin": origin,
                                        "signer": i})
        after = _sha(f"contrat signé {i}")
        add("signer.signed", "web", {
            "actor": None, "certificate": _sha(f"certificate {i}")[:40],
            "certificate_kind": "one_time", "code_channel": "mail", "consent": True,
            "consent_sha256": _sha(CONSENT), "consent_text": CONSENT,
            "documents": [{"after_sha256": after, "before_sha256": before, "position": 1}],
            "email": email, "internal": False, "name": name, "origin": origin, "signer": i})
        before = after
    add("collection.completed", "system", {"actor": None, "signers": signers})
    final = _sha("contrat horodaté")
    add("collection.timestamped", "system", {"actor": None, "documents": [
        {"after_sha256": final, "before_sha256": before, "filename": "contrat.pdf",
         "position": 1}]})
    signed = {e["data"]["signer"]: e for e in events if e["kind"] == "signer.signed"}
    tsa = "Paraphe Time-Stamping Authority"
    return {
        "format": reports.REPORT_FORMAT, "generated_at": events[-1]["at"],
        "collection": {"id": 7, "title": "Bench", "state": "completed", "ordered": False,
                       "message": "", "created_at": events[0]["at"],
                       "launched_at": events[1]["at"], "expires_at": "2026-12-16T09:00:00Z",
                       "ended_at": events[-2]["at"]},
        "cabinet": {"id": 1, "slug": "bench", "name": "Cabinet Bench", "siren": "552100554"},
        "initiator": {"id": 2, "name": "Expert Bench", "email": "expert@bench.test"},
        "people": {"2": {"name": "Expert Bench", "email": "expert@bench.test"}},
        "documents": [{"position": 1, "filename": "contrat.pdf", "original_sha256": original,
                       "original_size": 1843, "final_sha256": final,
                       "final_size": 40_000 * signers}],
        "signers": [{
            "position": i, "name": n, "email": e, "phone": None, "internal": False,
            "person_id": None, "state": "signed", "signed_at": signed[i]["at"],
            "declined_at": None, "decline_reason": None,
            "certificate_serial": signed[i]["data"]["certificate"],
            "identification": {"code_channel": "mail", "certificate": "one_time"},
            "consent": {"text": CONSENT, "sha256": _sha(CONSENT)},
        } for i, (n, e) in enumerate(people, 1)],
        "timestamps": [{"document": 1, "kind": "signature", "field": f"Signature{i}",
                        "time": signed[i]["at"], "serial": _sha(f"tst {i}")[:16], "tsa": tsa}
                       for i in signed] + [
            {"document": 1, "kind": "document", "field": "DocTimeStamp",
             "time": events[-1]["at"], "serial": _sha("tst doc")[:16], "tsa": tsa}],
        "events": events,
        "chain": {"algorithm": "SHA-256", "hashed_fields": ["seq", "at", "kind", "channel",
                  "cabinet_id", "person_id", "collection_id", "data", "prev_hash"],
                  "encoding": "see workflows/collections/report.py",
                  "time_format": "UTC, YYYY-MM-DDTHH:MM:SS.ffffffZ",
                  "genesis": evidence.GENESIS},
        "evidence_chain": {"head_seq": events[-1]["seq"], "head_hash": events[-1]["hash"],
                           "anchor": {"timestamped_at": events[-1]["at"],
                                      "timestamp_token": "MII" + "A" * 2600,
                                      "message_imprint": "sha256 = head_hash"}},
    }


def measure(signers: int, language: str, keep: Path | None, check: bool) -> dict:
    data = synthetic_report(signers)
    raw = json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True).encode()
    svc = SimpleNamespace(templates=templating)
    started = time.perf_counter()
    html = reports.render_certificate(svc, data, hashlib.sha256(raw).hexdigest(), language,
                                      "Europe/Paris")
    html_s = time.perf_counter() - started
    started, cpu = time.perf_counter(), time.process_time()
    pdf = render_pdfa(html, (AssociatedFile(f"preuve-{data['collection']['id']}.json", raw,
                                            "JSON"),), title="Bench")
    render_s, render_cpu_s = time.perf_counter() - started, time.process_time() - cpu
    out = {"signers": signers, "events": len(data["events"]), "html_chars": len(html),
           "html_s": round(html_s, 2), "render_s": round(render_s, 2),
           "render_cpu_s": round(render_cpu_s, 2),
           "pdf_bytes": len(pdf)}
    with tempfile.TemporaryDirectory(prefix="paraphe-bench-report-") as tmp:
        path = Path(tmp) / "report.pdf"
        path.write_bytes(pdf)
        info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True).stdout
        out["pages"] = int(next((line.split()[-1] for line in info.splitlines()
                                 if line.startswith("Pages:")), "0"))
        if check:
            out["check"] = _check(path, raw, len(data["events"]))
        if keep:
            keep.mkdir(parents=True, exist_ok=True)
            (keep / f"report-{signers}.pdf").write_bytes(pdf)
    return out


def _check(path: Path, raw: bytes, events: int) -> dict:
    """What a third party reads back: the chain from the printed appendix, the JSON attached."""
    folder = path.parent
    text = folder / "report.txt"
    subprocess.run(["pdftotext", "-layout", str(path), str(text)], check=True)
    checker = subprocess.run([sys.executable, "-I", str(ROOT / "tests/evidence_chain_check.py"),
                              str(text)], capture_output=True, text=True)
    last = (checker.stdout.strip().splitlines() or [""])[-1]
    subprocess.run(["pdfdetach", "-saveall", "-o", str(folder), str(path)], check=True)
    attached = next(folder.glob("preuve-*.json")).read_bytes()
    return {"chain_from_appendix": last, "chain_holds": checker.returncode == 0
            and last == f"{events} events: the chain holds", "json_attached": attached == raw}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signers", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--language", choices=reports.LANGUAGES, default="fr")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="print the N costliest functions (cProfile, cumulative)")
    args = parser.parse_args()
    if args.profile:
        import cProfile
        import pstats

        profile = cProfile.Profile()
        profile.enable()
    results = [measure(n, args.language, args.keep, args.check) for n in args.signers]
    if args.profile:
        profile.disable()
        pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_stats(
            args.profile)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
