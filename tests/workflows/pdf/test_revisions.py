"""A document signed again and again: every signature stays valid, and the tuned reader of
the signing workers (compat.pyhanko) answers exactly as pyHanko's own."""

from __future__ import annotations

import hashlib
import io

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from compat import pyhanko as revisions
from tests.pdfs import make_pdf
from tests.workflows.pdf.test_signing import check_with_everyone
from workflows.documents import DocumentStore
from workflows.errors import DocumentNotFoundError
from workflows.collections.signing import stamp_for

SIGNERS = 12


@pytest.fixture
async def many_times_signed(trust, engine, tmp_path):
    """A two-page document signed by SIGNERS one-time certificates through `sign_file`."""
    current = tmp_path / "v0.pdf"
    current.write_bytes(make_pdf(pages=2, text="Lettre de mission"))
    for i in range(1, SIGNERS + 1):
        cert = await trust.issue_one_time_certificate(f"Signataire {i}", f"s{i}@client.test")
        before = current.read_bytes()
        signed, sha256 = await engine.sign_file(
            current, await trust.signing_key(cert), reason="Lu et approuvé",
            name=f"Signataire {i}", stamp=stamp_for(i),
            bundle=await trust.validation_bundle([cert]), field_name=f"Signataire{i:02d}")
        assert current.read_bytes() == before  # the stored version is left untouched
        data = signed.read_bytes()
        assert data.startswith(before) and hashlib.sha256(data).hexdigest() == sha256
        current = tmp_path / f"v{i}.pdf"
        signed.rename(current)
    return current.read_bytes()


async def test_every_signature_of_a_many_times_signed_file_stays_valid(
        trust, many_times_signed, tmp_path):
    report = await check_with_everyone(trust, tmp_path, many_times_signed, SIGNERS)
    assert [s["signer"] for s in report["signatures"]] == [
        f"Signataire {i}" for i in range(1, SIGNERS + 1)]
    assert all(s["changes_after"] in ("validation data and timestamps only",
                                      "more signatures or form filling")
               for s in report["signatures"])
    assert all(s["level"] == "B-LT" for s in report["signatures"])


async def test_signing_a_missing_file_says_so(trust, engine, tmp_path):
    cert = await trust.issue_one_time_certificate("Signataire", "s@client.test")
    with pytest.raises(DocumentNotFoundError):
        await engine.sign_file(tmp_path / "gone.pdf", await trust.signing_key(cert),
                               reason=None, bundle=None)
    assert not list(engine._spool_dir().iterdir())  # nothing left behind


async def test_a_signed_copy_the_store_cannot_take_is_not_left_behind(trust, engine, tmp_path):
    source = tmp_path / "lettre.pdf"
    source.write_bytes(make_pdf())
    cert = await trust.issue_one_time_certificate("Signataire", "s@client.test")
    signed, sha256 = await engine.sign_file(
        source, await trust.signing_key(cert), reason=None,
        bundle=await trust.validation_bundle([cert]))
    blocked = tmp_path / "store"
    blocked.write_bytes(b"a file where the store's folder should be")
    with pytest.raises(OSError):
        await DocumentStore(blocked).adopt(signed, sha256)
    assert not list(engine._spool_dir().iterdir())  # the signed copy is gone too


def _plain(obj):
    """A pyHanko object as plain Python values, indirect references as (id, generation)."""
    if isinstance(obj, generic.IndirectObject):
        return ("ref", obj.reference.idnum, obj.reference.generation)
    if isinstance(obj, generic.StreamObject):
        return ("stream", {k: _plain(v) for k, v in obj.items()}, obj.encoded_data)
    if isinstance(obj, generic.DictionaryObject):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, generic.ArrayObject):
        return [_plain(v) for v in obj]
    return (type(obj).__name__, obj)


@pytest.fixture
def tuned(monkeypatch):
    """Opens files as a signing worker does (the patches undone after the test)."""
    for module, name, value in revisions.PATCHES:
        monkeypatch.setattr(module, name, value)

    def open_(data: bytes):
        return revisions.CachingReader(io.BytesIO(data))
    return open_


async def test_the_tuned_reader_answers_as_pyhanko_does(many_times_signed, tuned, monkeypatch):
    plain = PdfFileReader(io.BytesIO(many_times_signed))
    refs = {(ref.idnum, ref.generation) for ix in range(plain.xrefs.total_revisions)
            for ref in plain.xrefs.explicit_refs_in_revision(ix)}
    assert len(refs) > 5 * SIGNERS
    warm = tuned(many_times_signed)  # fills the caches: the reader below reuses its parse
    for idnum, gen in refs:
        warm.get_object(generic.Reference(idnum, gen, warm))
    fast = tuned(many_times_signed)
    parsed = []
    parse = PdfFileReader._read_object
    monkeypatch.setattr(PdfFileReader, "_read_object", lambda self, ref, *args, **kw: (
        parsed.append(ref) if self is fast else None, parse(self, ref, *args, **kw))[1])
    # The original, then per signature: the signature, and its validation data (B-LT).
    assert fast.xrefs.total_revisions == 2 * SIGNERS + 1
    for idnum, gen in sorted(refs):
        ref = generic.Reference(idnum, gen, plain)
        for revision in range(plain.xrefs.total_revisions):
            assert fast.xrefs.get_historical_ref(ref, revision) == \
                plain.xrefs.get_historical_ref(ref, revision)
        assert fast.xrefs.get_last_change(ref) == plain.xrefs.get_last_change(ref)
        assert fast.xrefs.get_introducing_revision(ref) == \
            plain.xrefs.get_introducing_revision(ref)
        mine = fast.get_object(generic.Reference(idnum, gen, fast))
        assert _plain(mine) == _plain(plain.get_object(ref))
        if isinstance(mine, (generic.DictionaryObject, generic.ArrayObject)):
            # pyHanko's writer rewrites the object a changed value says it lives in.
            assert mine.container_ref.idnum == idnum and mine.container_ref.pdf is fast
    # Only streams and signature dictionaries were parsed again.
    assert parsed and all(isinstance(fast.get_object(r), generic.StreamObject)
                          or fast.get_object(r).get("/Type") == "/Sig" for r in parsed)
    assert _plain(fast.trailer.flatten()) == _plain(plain.trailer.flatten())
    with pytest.raises(KeyError):
        fast.trailer.raw_get("/Encrypt")
    assert not fast.encrypted


async def test_the_tuned_reader_never_serves_stale_or_changed_objects(
        many_times_signed, tuned):
    first = tuned(many_times_signed)
    fields = first.root["/AcroForm"]["/Fields"]
    assert len(fields) == SIGNERS
    fields.append(generic.NullObject())  # a change made while signing stays in that reader
    assert len(tuned(many_times_signed).root["/AcroForm"]["/Fields"]) == SIGNERS

    # The same offset holding other bytes (another file): parsed afresh.
    other = many_times_signed.replace(b"(Signataire03)", b"(Signataire99)")
    assert other != many_times_signed
    names = [f.get_object()["/T"] for f in tuned(other).root["/AcroForm"]["/Fields"]]
    assert "Signataire99" in names and "Signataire03" not in names
