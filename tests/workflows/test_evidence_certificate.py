"""The certificate of evidence as a reader gets it: page 1 as an image and text, the PDF/A-3
with its JSON, the seal, and the hash chain recomputed by a standalone script."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_datetime

from tests.conftest import require_tool
from tests.workflows.collection_world import (  # noqa: F401 - fixtures
    code_of,
    link_of,
    pdf,
    token_of,
    world,
    world_settings,
)
from tests.sms import sent_sms
from workflows import collections
from workflows.collections import report as reports
from workflows.collections import SignerSpec
from workflows.errors import OtpInvalidError
from workflows.models import EvidenceEvent

CHECKER = Path(__file__).resolve().parents[1] / "evidence_chain_check.py"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"
REPRS = ("True", "False", "None", "{'", "':", "in_progress", "completed", "signer.signed",
         "collection.", "+00:00")


async def _run(*cmd: str) -> str:
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.PIPE,
                                                stderr=subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def _completed(world):
    """Two clients: one by e-mail code after a wrong code, one by SMS; a collection completed."""
    collection = await collections.create_collection(
        world.svc, world.actor(world.launcher), cabinet="dupre",
        documents=[("lettre-de-mission.pdf", pdf())], title="Lettre de mission 2027",
        signers=[SignerSpec("Claire Client", "claire@client.test"),
                 SignerSpec("Paul Client", "paul@client.test", "+33611223344")])
    web = dict(ip="203.0.113.7", user_agent=BROWSER)
    token = token_of(await link_of("claire@client.test"))
    await collections.note_opened(await collections.signer_view(token), **web)
    await collections.note_opened(await collections.signer_view(token), **web)  # once only
    await collections.send_code(world.svc, token, "mail", **web)
    code = await code_of("claire@client.test")
    with pytest.raises(OtpInvalidError):
        await collections.sign_with_code(world.svc, token, f"{(int(code) + 1) % 10**6:06d}",
                                         consent=True, **web)
    await collections.sign_with_code(world.svc, token, code, consent=True, language="fr", **web)
    token = token_of(await link_of("paul@client.test"))
    await collections.send_code(world.svc, token, "sms", **web)
    code = (await sent_sms(world.svc))[-1]["text"].split(" est ")[1][:6]
    await collections.sign_with_code(world.svc, token, code, consent=True, **web)
    return collection


async def test_certificate_reads_well_and_its_chain_recomputes(world, tmp_path):
    for tool in ("pdftoppm", "pdftotext", "pdfdetach", "qpdf"):
        require_tool(tool)
    collection = await _completed(world)
    kinds = await EvidenceEvent.filter(collection_id=collection.id).values_list("kind", flat=True)
    for kind in ("signer.invited", "signer.opened", "signer.code_sent", "signer.code_wrong",
                 "signer.signed", "collection.completed", "collection.report_sealed"):
        assert kind in kinds, kinds
    assert kinds.count("signer.opened") == 1
    report = await reports.evidence_report(world.svc, collection.id)
    path = tmp_path / "preuve.pdf"
    path.write_bytes(report.pdf)

    # Page 1 as a person sees it (the PNG is kept for a look), and its words.
    await _run("pdftoppm", "-f", "1", "-l", "1", "-r", "110", "-png", str(path),
               str(tmp_path / "page"))
    png = next(tmp_path.glob("page*.png"))
    assert png.stat().st_size > 20_000
    first = await _run("pdftotext", "-f", "1", "-l", "1", "-layout", str(path), "-")
    for words in ("Certificat de preuve", "Résumé", "Cabinet Dupré – SIREN 552 100 554",
                  "Léa Lance", "Signataires et identification",
                  "Code à usage unique reçu par courriel",
                  "Code à usage unique reçu par SMS (+33611223344)",
                  "terminée, toutes les signatures recueillies", "avant signature",
                  "après signature"):
        assert words in " ".join(first.split()), (words, first)
    text = await _run("pdftotext", "-layout", str(path), "-")
    # Reading order (no -layout) keeps the words of a table cell together.
    flat = " ".join((await _run("pdftotext", str(path), "-")).split())
    for words in ("Chronologie", "Invitation à signer envoyée", "Page de signature ouverte",
                  "Code erroné saisi – Claire Client", "essais restants : 4",
                  "Code à usage unique envoyé – Paul Client", "par SMS",
                  "par courriel à paul@client.test", "adresse IP 203.0.113.7",
                  "Consentement", "J'ai lu le document et j'accepte de le signer électroniquement.",
                  "Horodatages", "Annexe – recalculer le chaînage"):
        assert words in flat, words
    # Paris time in words, UTC beside it.
    signed = (await EvidenceEvent.filter(collection_id=collection.id, kind="signer.signed")
              .order_by("seq").first())
    paris = format_datetime(signed.at, "d MMMM y 'à' H 'h' mm", tzinfo=ZoneInfo("Europe/Paris"),
                            locale="fr")
    assert paris in flat and signed.at.strftime("%Y-%m-%d %H:%M:%S UTC") in flat
    assert re.search(r"\d{1,2} (janvier|février|mars|avril|mai|juin|juillet|août|septembre|"
                     r"octobre|novembre|décembre) \d{4} à \d{1,2} h \d{2}", first)
    # The appendix's people, but none of a developer's dump before it.
    body = flat.split("Annexe – recalculer")[0]
    for repr_ in REPRS:
        assert repr_ not in body, repr_
    # The consent's hash is that of its words.
    words = "J'ai lu le document et j'accepte de le signer électroniquement."
    assert hashlib.sha256(words.encode()).hexdigest() in flat

    # The JSON's hash printed is that of the JSON attached (PDF/A-3 associated file).
    assert report.json_sha256 in flat.replace(" ", "")
    await _run("pdfdetach", "-saveall", "-o", str(tmp_path), str(path))
    attached = (tmp_path / f"preuve-{collection.id}.json").read_bytes()
    assert attached == report.json
    qdf = tmp_path / "qdf.pdf"
    await _run("qpdf", "--qdf", "--object-streams=disable", str(path), str(qdf))
    raw = qdf.read_bytes()
    assert b"/AFRelationship /Data" in raw and b"pdfaid:part" in raw.replace(b"\n", b" ")

    # A third party recomputes the chain, from the JSON and from the printed appendix alone.
    (tmp_path / "preuve.json").write_bytes(report.json)
    (tmp_path / "preuve.txt").write_text(text, encoding="utf-8")
    events = len(json.loads(report.json)["events"])
    for source in ("preuve.json", "preuve.txt"):
        out = subprocess.run([sys.executable, "-I", str(CHECKER), str(tmp_path / source)],
                             capture_output=True, text=True, cwd=tmp_path, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        assert f"{events} events: the chain holds" in out.stdout, out.stdout
        assert "linked to the previous event" in out.stdout
    # A changed field is caught.
    tampered = text.replace("Claire␣Client", "Claire␣Cliente", 1)
    assert tampered != text
    (tmp_path / "tampered.txt").write_text(tampered, encoding="utf-8")
    out = subprocess.run([sys.executable, "-I", str(CHECKER), str(tmp_path / "tampered.txt")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "HASH MISMATCH" in out.stdout

    # The seal validates (pyHanko), as the other reports do.
    from workflows.pdf.verify import verify_pdf
    checked = await verify_pdf(report.pdf, trust_roots=world.svc.trust.trust_roots())
    assert checked["ok"], checked
    # The stored bytes come back the same on the next request, with their .p7s.
    again = await reports.evidence_report(world.svc, collection.id)
    assert (again.json, again.pdf) == (report.json, report.pdf) and again.json_signature
    keep = os.environ.get("EVIDENCE_CERTIFICATE_KEEP")  # a folder, to look at the page
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        (Path(keep) / "certificate-page1.png").write_bytes(png.read_bytes())
        (Path(keep) / "certificate.pdf").write_bytes(report.pdf)


async def test_certificate_in_english_with_a_declined_signer(world, tmp_path):
    require_tool("pdftotext")
    collection = await collections.create_collection(
        world.svc, world.actor(world.launcher), cabinet="dupre",
        documents=[("engagement.pdf", pdf())], title="Engagement letter",
        signers=[SignerSpec("Claire Client", "claire@client.test")])
    token = token_of(await link_of("claire@client.test"))
    await collections.decline(world.svc, token, "Wrong amount", ip="203.0.113.7",
                              user_agent=BROWSER)
    report = await reports.build_report(world.svc, collection.id, "en")
    (tmp_path / "report.pdf").write_bytes(report.pdf)
    flat = " ".join((await _run("pdftotext", "-layout", str(tmp_path / "report.pdf"),
                                "-")).split())
    for words in ("Certificate of evidence", "Cabinet Dupré – SIREN 552 100 554",
                  "declined by a signer", "Declined to sign", "reason: “Wrong amount”",
                  "No consent was collected", "No timestamp"):
        assert words in flat, words
    assert re.search(r"\d{1,2} (January|February|March|April|May|June|July|August|September|"
                     r"October|November|December) \d{4} at \d{2}:\d{2}", flat)
    for repr_ in ("True", "None", "{'", "declined_at", "signer.declined"):
        assert repr_ not in flat.split("Appendix")[0], repr_
    # A declined collection's report is stored at the first request: the same bytes after.
    first = await reports.evidence_report(world.svc, collection.id)
    assert (await reports.evidence_report(world.svc, collection.id)).json == first.json


async def test_wrong_codes_are_evidence_but_a_dead_code_adds_nothing(world):
    from workflows.errors import OtpLockedError
    from workflows.otp import MAX_ATTEMPTS

    await collections.create_collection(
        world.svc, world.actor(world.launcher), cabinet="dupre",
        documents=[("lettre.pdf", pdf())], signers=[SignerSpec("Claire", "claire@client.test")])
    token = token_of(await link_of("claire@client.test"))
    await collections.send_code(world.svc, token, "mail")
    wrong = f"{(int(await code_of('claire@client.test')) + 1) % 10**6:06d}"
    for _ in range(MAX_ATTEMPTS + 3):
        with pytest.raises((OtpInvalidError, OtpLockedError)):
            await collections.sign_with_code(world.svc, token, wrong, consent=True,
                                             ip="203.0.113.7", user_agent=BROWSER)
    rows = await EvidenceEvent.filter(kind="signer.code_wrong").order_by("seq")
    assert [r.data["attempts_left"] for r in rows] == [4, 3, 2, 1, 0]
    assert [r.data["locked"] for r in rows] == [False] * 4 + [True]
    assert rows[0].data["origin"]["ip"] == "203.0.113.7"


def test_dates_read_as_people_say_them():
    from workflows import dates

    french = "d MMMM y 'à' H 'h' mm"
    assert dates.local("2026-12-01T13:05:00.000000Z", french, "fr",
                       "Europe/Paris") == "1 décembre 2026 à 14 h 05"
    assert dates.local("2026-07-01T13:05:00+00:00", french, "fr",
                       "Europe/Paris") == "1 juillet 2026 à 15 h 05"  # summer time
    assert dates.local("2026-12-01T13:05:00Z", french, "fr",
                       "America/Montreal") == "1 décembre 2026 à 8 h 05"
    assert dates.utc("2026-12-01T13:05:00.000000Z") == "2026-12-01 13:05:00 UTC"
    assert dates.local(None, french, "fr", "Europe/Paris") == ""


def test_printed_bodies_survive_a_page_whatever_their_characters():
    from workflows import evidence

    value = {"name": "Zoé  d'Œuvre\u00a0\u2423\u200b\U000e0001", "note": "a\tb\nc \"q\" \\",
             "n": [1, None, True]}
    text = reports.printable_json(value)
    assert " " not in text and "\u00a0" not in text and "\t" not in text
    back = json.loads(text.replace("\u2423", " "))
    assert back == value and evidence.canonical(back) == evidence.canonical(value)
    lines = reports.appendix_lines({"seq": 1, "at": "x", "kind": "k", "channel": "web",
                                    "cabinet_id": 1, "person_id": None, "collection_id": 2,
                                    "data": value, "prev_hash": "0" * 64}, width=10)
    assert all(len(line) <= 10 for line in lines) and "".join(lines).startswith('{"at":"x"')
