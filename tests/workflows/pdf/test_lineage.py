"""A document signed again by the worker that wrote its last version: the signature reads,
parses and hashes only the revisions it adds, and every output still validates."""

from __future__ import annotations

import hashlib
import io

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from compat import pyhanko as revisions
from tests.pdfs import make_pdf
from tests.validators import pdfsig_report
from tests.workflows.pdf.test_revisions import _plain, many_times_signed, tuned  # noqa: F401
from tests.workflows.pdf.test_signing import check_with_everyone
from workflows.collections.signing import stamp_for
from workflows.errors import DocumentBrokenError
from workflows.pdf import engine as engine_mod
from workflows.pdf.engine import SigningEngine

LINEAGE = "collection-document:1"


async def _sign_again(trust, engine, current, i: int, *, sha256: str | None = None):
    cert = await trust.issue_one_time_certificate(f"Signataire {i}", f"s{i}@client.test")
    before = current.read_bytes()
    signed, digest = await engine.sign_file(
        current, await trust.signing_key(cert), reason="Lu et approuvé", name=f"Signataire {i}",
        stamp=stamp_for(i), bundle=await trust.validation_bundle([cert]),
        field_name=f"Signataire{i:02d}",
        source_sha256=sha256 or hashlib.sha256(before).hexdigest(), lineage=LINEAGE)
    data = signed.read_bytes()
    assert current.read_bytes() == before  # the stored version is left untouched
    assert data.startswith(before)  # and its bytes are not rewritten in the new one
    assert hashlib.sha256(data).hexdigest() == digest
    return signed, digest


async def _worker_counts(engine):
    slot = engine._slot(LINEAGE)
    report = await engine._run(revisions.report, slot=slot)
    return report, await engine._run(engine_mod.hashed_bytes, slot=slot)


@pytest.fixture
async def two_workers(pdf_settings):
    engine = SigningEngine(pdf_settings, workers=2)
    try:
        yield engine
    finally:
        engine.close()


async def test_a_signature_reads_and_hashes_only_what_it_adds(trust, two_workers, tmp_path):
    engine = two_workers
    current = tmp_path / "v0.pdf"
    current.write_bytes(make_pdf(pages=2, text="Lettre de mission"))
    for i in range(1, 7):
        current, _ = await _sign_again(trust, engine, current, i)
    before, hashed_before = await _worker_counts(engine)
    size_before = current.stat().st_size
    current, _ = await _sign_again(trust, engine, current, 7)
    after, hashed_after = await _worker_counts(engine)
    # Two readers (the signature, then its validation data), each parsing the one section
    # written since the file it continues, whatever the number of earlier revisions (14).
    assert after["chains_spliced"] - before["chains_spliced"] == 2
    assert after["sections_read"] - before["sections_read"] == 2
    # Of the six earlier signature fields only the last one (added by the previous
    # signature, never read since) was read to learn its name: each is read once.
    assert after["field_names_kept"] - before["field_names_kept"] == 5
    # The worker hashed the bytes the signature appended, not the whole file again, and so
    # did the signature's own digest (what it covers of the new revision).
    appended = current.stat().st_size - size_before
    assert hashed_after - hashed_before == appended
    assert 0 < after["digest_bytes"] - before["digest_bytes"] < appended
    assert "fill" in after["used"]


async def test_a_version_the_worker_did_not_write_is_hashed_once(
        trust, two_workers, tmp_path):
    engine = two_workers
    current = tmp_path / "v0.pdf"
    current.write_bytes(make_pdf(pages=1))
    _, hashed_before = await _worker_counts(engine)
    signed, _ = await _sign_again(trust, engine, current, 1)
    _, hashed_after = await _worker_counts(engine)
    # The stored version read once (checked against its digest), then what was appended.
    assert hashed_after - hashed_before == signed.stat().st_size


async def test_a_stored_version_unlike_its_digest_is_refused(trust, two_workers, tmp_path):
    engine = two_workers
    current = tmp_path / "v0.pdf"
    current.write_bytes(make_pdf(pages=1))
    with pytest.raises(DocumentBrokenError):
        await _sign_again(trust, engine, current, 1, sha256="0" * 64)
    assert not list(engine._spool_dir().iterdir())  # nothing left behind


async def test_thirty_signatures_on_the_fast_path_validate(trust, two_workers, tmp_path):
    engine = two_workers
    current = tmp_path / "v0.pdf"
    current.write_bytes(make_pdf(pages=2, text="Contrat"))
    for i in range(1, 31):
        current, _ = await _sign_again(trust, engine, current, i)
    report, _ = await _worker_counts(engine)
    assert report["chains_spliced"] >= 2 * 29  # every signature after the first
    data = current.read_bytes()
    result = await check_with_everyone(trust, tmp_path, data, 30)
    assert [s["signer"] for s in result["signatures"]] == [
        f"Signataire {i}" for i in range(1, 31)]
    assert all(s["level"] == "B-LT" for s in result["signatures"])
    entries = await pdfsig_report(tmp_path / "signed.pdf", trust.root_pem())
    assert len(entries) == 30


def _eof_ends(data: bytes) -> list[int]:
    ends, at = [], data.find(b"%%EOF")
    while at != -1:
        end = at + 5
        while data[end:end + 1] in (b"\r", b"\n"):
            end += 1
        ends.append(end)
        at = data.find(b"%%EOF", end)
    return ends


async def test_a_spliced_reader_answers_as_pyhanko_does(many_times_signed, tuned):
    """The reader of a file whose earlier revisions were spliced from a kept chain gives
    pyHanko's own answers: trailer, revisions, every object."""
    data = many_times_signed
    ends = _eof_ends(data)
    assert len(ends) > 6 and ends[-1] == len(data)
    prefix = data[:ends[-6]]
    known = [(len(prefix), hashlib.sha256(prefix).hexdigest())]
    stream = io.BytesIO(prefix)
    with revisions.known_prefixes(stream, known):
        revisions.CachingReader(stream)  # keeps the chain of the prefix
    spliced_before = revisions.counts["chains_spliced"]
    whole = io.BytesIO(data)
    with revisions.known_prefixes(whole, known):
        fast = revisions.CachingReader(whole)
    assert revisions.counts["chains_spliced"] == spliced_before + 1
    plain = PdfFileReader(io.BytesIO(data))
    assert fast.xrefs.total_revisions == plain.xrefs.total_revisions
    assert _plain(fast.trailer.flatten()) == _plain(plain.trailer.flatten())
    assert fast.trailer.keys() == plain.trailer.keys()
    for revision in (0, 3, plain.xrefs.total_revisions - 1):
        assert _plain(fast.trailer.flatten(revision)) == _plain(plain.trailer.flatten(revision))
        assert fast.xrefs.explicit_refs_in_revision(revision) == \
            plain.xrefs.explicit_refs_in_revision(revision)
    for key in ("/Root", "/Info", "/ID", "/Size", "/Encrypt"):
        assert (key in fast.trailer) == (key in plain.trailer)
        if key in plain.trailer:
            assert _plain(fast.trailer.raw_get(key)) == _plain(plain.trailer.raw_get(key))
            assert _plain(fast.trailer.raw_get(key, revision=2)) == \
                _plain(plain.trailer.raw_get(key, revision=2))
    assert fast.xrefs.xref_stream_refs == plain.xrefs.xref_stream_refs
    for idnum in range(1, int(plain.trailer["/Size"])):
        ref = generic.Reference(idnum, 0)
        try:
            expected = plain.get_object(ref)
        except Exception:  # noqa: BLE001 - a freed number: both must refuse it alike
            with pytest.raises(Exception):  # noqa: B017
                fast.get_object(ref)
            continue
        assert _plain(fast.get_object(ref)) == _plain(expected)
        assert fast.xrefs.get_last_change(ref) == plain.xrefs.get_last_change(ref)
