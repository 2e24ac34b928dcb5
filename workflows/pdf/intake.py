"""Checks of untrusted PDF bytes before anything signs, stores or renders them."""

from __future__ import annotations

import io
import mmap
import zlib
from dataclasses import dataclass

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.decode_limits import DecodeLimits, DocumentDecodeBudget, StreamDecodeLimits
from pyhanko.pdf_utils.misc import PdfDecodeLimitError, PdfStrictReadError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import append_signature_field

from workflows.errors import (
    DocumentBombError,
    DocumentBrokenError,
    DocumentEncryptedError,
    DocumentNotPdfError,
    DocumentTooLargeError,
)
from workflows.pdf.stamp import StampSpec, field_spec

MiB = 1024 * 1024
# Acrobat accepts a header anywhere in the first KiB; so do we, and nothing more lenient.
MAGIC_WINDOW = 1024
# One stream may not inflate past this, whatever its compressed size.
STREAM_MAX_INFLATED = 64 * MiB
# Past this floor, a stream may not inflate more than one Deflate layer can (~1032:1):
# anything beyond comes from stacked filters, the classic bomb.
STREAM_RATIO_FLOOR = 1 * MiB
STREAM_MAX_RATIO = 1100
# The whole document may not make us inflate more than this in total.
DOCUMENT_INFLATE_BUDGET = 128 * MiB
# Output is produced (and dropped) in chunks of this size, so memory stays bounded.
CHUNK = 256 * 1024
MAX_FIELD_DEPTH = 32
# Bytes peeked at an object's start to see its dictionary before reading its payload.
PEEK = 2048

# The same bounds, handed to pyHanko when it reads the document later (signing, verifying).
DECODE_LIMITS = DecodeLimits(
    per_stream=StreamDecodeLimits(max_ratio=STREAM_MAX_RATIO, ratio_floor=STREAM_RATIO_FLOOR,
                                  max_output_size=STREAM_MAX_INFLATED),
    document_budget=DocumentDecodeBudget(base_allowance=DOCUMENT_INFLATE_BUDGET, max_ratio=10),
)


@dataclass(frozen=True)
class PdfInfo:
    """What the intake learnt about an accepted PDF."""

    size: int
    """Length of the file in bytes."""
    pages: int
    """Number of pages, from the page tree."""
    signatures: int
    """Signature fields that already hold a signature (document timestamps included)."""
    is_pdfa: bool
    """True when the XMP metadata declares PDF/A conformance."""
    strict: bool
    """False when the file only parses in pyHanko's lenient mode; signers must use the same."""


def check_pdf(data: bytes | mmap.mmap, filename: str = "", *,
              max_bytes: int = 10 * MiB) -> PdfInfo:
    """Accepts `data` (bytes, or a read-only mmap of a file) as a PDF we may sign, or
    refuses it with a stable error.

    Raises DocumentTooLargeError, DocumentNotPdfError, DocumentEncryptedError,
    DocumentBrokenError or DocumentBombError (in that order of checks).
    """
    if len(data) > max_bytes:
        raise DocumentTooLargeError(f"{filename or 'the file'} is {len(data)} bytes, "
                                    f"over the {max_bytes // MiB} MB limit",
                                    size=len(data), limit=max_bytes)
    if b"%PDF-" not in data[:MAGIC_WINDOW]:
        raise DocumentNotPdfError(f"{filename or 'the file'} is not a PDF")
    try:
        reader, strict = _open(data)
        if reader.encrypt_dict is not None:
            raise DocumentEncryptedError(f"{filename or 'the PDF'} is encrypted")
        _scan_streams(reader)
        root = reader.root
        pages = int(root["/Pages"]["/Count"])
        signatures = _count_signatures(root)
        is_pdfa = _declares_pdfa(root)
    except (DocumentEncryptedError, DocumentBombError):
        raise
    except PdfDecodeLimitError:
        raise DocumentBombError(f"{filename or 'the PDF'} inflates past our limits") from None
    except RecursionError:
        raise DocumentBrokenError(f"{filename or 'the PDF'} nests objects too deeply") from None
    except Exception as exc:  # Any parse failure of untrusted bytes means "broken".
        raise DocumentBrokenError(f"{filename or 'the PDF'} cannot be read "
                                  f"({type(exc).__name__})") from None
    if pages < 1:
        raise DocumentBrokenError(f"{filename or 'the PDF'} has no pages")
    return PdfInfo(size=len(data), pages=pages, signatures=signatures, is_pdfa=is_pdfa,
                   strict=strict)


def open_reader(data, *, strict: bool = True) -> PdfFileReader:
    """A pyHanko reader with the intake's decoding bounds, over bytes or an mmap (which
    is read in place: the file is not copied whole into memory)."""
    stream = data if isinstance(data, mmap.mmap) else io.BytesIO(data)
    stream.seek(0)
    return PdfFileReader(stream, strict=strict, decode_limits=DECODE_LIMITS)


def _open(data: bytes) -> tuple[PdfFileReader, bool]:
    # Many producers write slightly irregular files that viewers accept; pyHanko's
    # lenient mode reads them too, and we remember which mode worked.
    try:
        return open_reader(data, strict=True), True
    except PdfStrictReadError:
        return open_reader(data, strict=False), False


def _scan_streams(reader: PdfFileReader) -> None:
    """Inflates every Flate stream in bounded chunks, counting bytes, before anything decodes it."""
    budget = [DOCUMENT_INFLATE_BUDGET]
    seen: set[tuple[int, int]] = set()
    last = reader.xrefs.total_revisions - 1
    for revision in range(last, -1, -1):
        section = reader.xrefs.get_xref_data(revision)
        for idnum, (generation, offset) in section.standard_xrefs.items():
            if (idnum, generation) in seen:
                continue
            seen.add((idnum, generation))
            if _plainly_unfiltered(reader.stream, offset):
                continue
            obj = reader.get_object(generic.Reference(idnum, generation, pdf=reader),
                                    revision=None if revision == last else revision)
            if isinstance(obj, generic.StreamObject):
                _check_stream(obj, budget)


def _plainly_unfiltered(source, offset: int) -> bool:
    """True for an object whose dictionary visibly has no filter: then its (possibly
    10 MB) payload is not read at all. Anything unusual in the dictionary (strings,
    hex strings, comments, #-escaped names that could spell /Filter) gets the full read."""
    source.seek(offset)
    window = source.read(PEEK)
    start = window.find(b"obj")
    end = window.find(b"stream", start)
    if start < 0 or end < 0:
        return False
    head = window[start + 3:end]
    if b"/Fl" in head or any(c in head for c in (b"#", b"(", b"%")):
        return False
    return b"<" not in head.replace(b"<<", b"") and b">" not in head.replace(b">>", b"")


def _check_stream(stream: generic.StreamObject, budget: list[int]) -> None:
    filters = stream.get("/Filter")
    if filters is None:
        return
    names = [filters] if isinstance(filters, generic.NameObject) else list(filters)
    # Only Deflate expands without bound here; image codecs are not decoded by the service.
    flate_prefix = 0
    for name in names:
        if name in ("/FlateDecode", "/Fl"):
            flate_prefix += 1
        else:
            break
    if not flate_prefix:
        return
    encoded = stream.encoded_data
    cap = STREAM_MAX_INFLATED
    if len(encoded) * STREAM_MAX_RATIO > STREAM_RATIO_FLOOR:
        cap = min(cap, max(STREAM_RATIO_FLOOR, len(encoded) * STREAM_MAX_RATIO))
    else:
        cap = min(cap, STREAM_RATIO_FLOOR)
    produced = _inflate_count(encoded, flate_prefix, min(cap, budget[0]) + 1)
    if produced > cap:
        raise DocumentBombError("a stream inflates past the per-stream limit")
    budget[0] -= produced
    if budget[0] < 0:
        raise DocumentBombError("the document inflates past the total limit")


def _inflate_count(encoded: bytes, layers: int, limit: int) -> int:
    """Bytes produced by `layers` stacked Deflate decoders, stopping once past `limit`."""
    decoders = [zlib.decompressobj() for _ in range(layers)]
    total = 0

    def feed(level: int, chunk: bytes) -> None:
        nonlocal total
        dec = decoders[level]
        while chunk and total < limit:
            try:
                out = dec.decompress(chunk, CHUNK)
            except zlib.error:
                # A corrupt tail is the viewer's problem; what inflated so far is counted.
                return
            chunk = dec.unconsumed_tail
            if level + 1 < layers:
                feed(level + 1, out)
            else:
                total += len(out)
            if not out and not chunk:
                return

    feed(0, encoded)
    return total


def _count_signatures(root: generic.DictionaryObject) -> int:
    form = root.get("/AcroForm")
    form = form.get_object() if form is not None else None
    if not isinstance(form, generic.DictionaryObject):
        return 0
    count = 0
    stack = [(f, 0) for f in form.get("/Fields", generic.ArrayObject()).get_object()]
    visited: set[int] = set()
    while stack:
        ref, depth = stack.pop()
        field = ref.get_object()
        if id(field) in visited or depth > MAX_FIELD_DEPTH:
            continue
        visited.add(id(field))
        if not isinstance(field, generic.DictionaryObject):
            continue
        if field.get("/FT") == "/Sig" and "/V" in field:
            count += 1
        for kid in field.get("/Kids", generic.ArrayObject()).get_object():
            stack.append((kid, depth + 1))
    return count


def _declares_pdfa(root: generic.DictionaryObject) -> bool:
    meta = root.get("/Metadata")
    meta = meta.get_object() if meta is not None else None
    if not isinstance(meta, generic.StreamObject):
        return False
    return b"pdfaid:part" in meta.data


# Bounds of the page tree walk that counts the real pages.
MAX_PAGE_TREE_DEPTH = 64
DRY_RUN_FIELD = "Paraphe-dry-run"


def check_signable(data: bytes | mmap.mmap, filename: str = "", *,
                   max_bytes: int = 10 * MiB) -> PdfInfo:
    """`check_pdf`, then what signing a collection's document needs on top: a strict
    parse (signers sign in strict mode), a page count that matches the page tree, and a
    dry run of the signing path's changes (the visible field on the last page), which is
    never written. Refuses with DocumentBrokenError (details: reason `xref`, `page_count`
    or `signing`) what the signers could never sign, so nothing is reserved for it."""
    info = check_pdf(data, filename, max_bytes=max_bytes)
    name = filename or "the PDF"
    if not info.strict:
        raise DocumentBrokenError(f"{name} is damaged: its cross-reference table is not "
                                  "where the file says", reason="xref")
    try:
        writer = IncrementalPdfFileWriter(_stream(data), strict=True, decode_limits=DECODE_LIMITS)
        real = _real_page_count(writer.root["/Pages"])
        if real != info.pages:
            raise DocumentBrokenError(f"{name} declares {info.pages} pages but has {real}",
                                      reason="page_count", declared=info.pages, pages=real)
        append_signature_field(writer, field_spec(StampSpec(page=-1), DRY_RUN_FIELD, real))
    except (DocumentBrokenError, DocumentBombError):
        raise
    except PdfDecodeLimitError:
        raise DocumentBombError(f"{name} inflates past our limits") from None
    except Exception as exc:  # Whatever stops the dry run stops the signers too.
        raise DocumentBrokenError(f"{name} cannot be signed ({type(exc).__name__})",
                                  reason="signing") from None
    return info


def _stream(data):
    stream = data if isinstance(data, mmap.mmap) else io.BytesIO(data)
    stream.seek(0)
    return stream


def _real_page_count(root_pages) -> int:
    """The leaves of the page tree, walked with a bound on depth and no node twice."""
    count, seen = 0, set()
    stack = [(root_pages, 0)]
    while stack:
        node, depth = stack.pop()
        node = node.get_object()
        if id(node) in seen or depth > MAX_PAGE_TREE_DEPTH:
            raise DocumentBrokenError("the page tree loops or nests too deeply",
                                      reason="page_count")
        seen.add(id(node))
        if node.get("/Type") == "/Pages" or "/Kids" in node:
            stack.extend((kid, depth + 1) for kid in node["/Kids"])
        else:
            count += 1
    return count
