"""pyHanko 0.38: what Paraphe overrides or relies on, checked by `install()`.

Three things, each with its canary in tests/compat/test_pyhanko.py:

- `pyhanko.revisions`: pyHanko's reader, tuned for files with hundreds of incremental
  revisions (below). Five names of pyHanko are replaced, three of them private; signing
  workers call `install_reader()`.
- `pyhanko.pades_cms`: workflows.trust.signers.KeptKeySigner overrides `Signer.async_sign`
  and assembles the CMS pyHanko would build (workflows.trust.pades_cms) when
  `plain_pades_request()` says the request is one it knows how to answer.
- `pyhanko.byterange_text`: pyHanko says that a signature outgrew the room reserved for
  it only in a SigningError's text, without a type or attribute of its own: the signing
  engine retries with more room when `container_too_small()` recognises that text.

The reader, tuned. A collection's document gets one revision per signature. Out of the
box, opening such a file costs pyHanko work that grows with the square of the revision
count, at every signature:

- every cross-reference section of the file is parsed again, although a signing worker
  parsed the same bytes a moment ago for the previous signature;
- looking an object up walks the sections from the newest to the oldest, and an object of
  the first revision (the pages) is looked up through all of them;
- a trailer key that no revision has (`/Encrypt`, checked at every object read) is looked
  for in every revision;
- the strict check that no revision overwrites an earlier cross-reference stream compares
  every section with every later one;
- every object read (the form's fields, one per earlier signature, the pages) is parsed
  again, although the same bytes were parsed for the previous signature;
- looking for the field to sign by name reads the value of every signature field, i.e.
  every earlier signature with its 30 KB container.

`install_reader()` (called once per signing worker) swaps in what gives the same answers
faster: a builder that reuses the parse of a section whose bytes it has seen at the same
offset, a reader that does the same for objects (a copy bound to the new file, so changes
made by a signature never reach the cache), an xref cache indexed by object number, a
trailer that knows which keys its revisions hold, and a field search that passes over
fields whose name cannot match before pyHanko reads their value. Encrypted files, streams,
objects inside object streams and hybrid sections (whose data lies elsewhere in the file)
are always parsed afresh. The service's own process keeps pyHanko's reader as it is.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict

from pyhanko.pdf_utils import form_tools, generic, incremental_writer, misc, reader, xref
from pyhanko.sign import fields, general, timestamps
from pyhanko.sign.signers import pdf_byterange, pdf_cms

from compat import Checks, disabled

# Parsed sections kept per process (one is a few hundred bytes of source), and per offset:
# files of the same shape put different sections at the same offset.
CACHE_ENTRIES, ENTRIES_PER_OFFSET = 50_000, 4
# Parsed objects kept per process, and the most source bytes they may hold.
OBJECT_ENTRIES, OBJECT_BYTES = 100_000, 32 * 1024 * 1024
# Larger objects (a signature dictionary is about 33 KB) are not worth a cache entry.
OBJECT_MAX_BYTES = 4096

# (declared startxref, start offset, strict) -> [(raw bytes, _Parsed)]
_sections: OrderedDict = OrderedDict()
# (offset, id, generation, strict) -> (raw bytes, parsed object bound to no file)
_objects: OrderedDict = OrderedDict()
_object_bytes = 0
# The replacements that ran in this process (each notes itself once per file opened, not
# per object): what `report()` tells the canaries.
used: set[str] = set()


@dataclasses.dataclass(frozen=True)
class _Parsed:
    section: xref.XRefSection
    trailer: generic.DictionaryObject
    prev: int | None
    # The trailer's keys holding an indirect reference, when no other value holds one:
    # the trailer is then reused by copying it and binding just these (/Root, /Info).
    refs: tuple | None

    def trailer_for(self, handler) -> generic.DictionaryObject:
        if self.refs is None:
            return _rebind(self.trailer, handler)
        trailer = generic.DictionaryObject(self.trailer)
        for key in self.refs:
            ref = self.trailer.raw_get(key).reference
            trailer[key] = generic.IndirectObject(ref.idnum, ref.generation, handler)
        return trailer


def _has_refs(obj) -> bool:
    if isinstance(obj, generic.IndirectObject):
        return True
    values = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, list) else ()
    return any(_has_refs(v) for v in values)


def _top_level_refs(trailer) -> tuple | None:
    refs = tuple(k for k, v in trailer.items() if isinstance(v, generic.IndirectObject))
    nested = any(_has_refs(v) for k, v in trailer.items() if k not in refs)
    return None if nested else refs


def _rebind(obj, handler, container=None):
    """A copy of a parsed object whose indirect references resolve in `handler` and whose
    dictionaries and arrays say they live in `container` (what pyHanko's writer looks at
    to know which object a change rewrites). Other values are immutable and shared."""
    if isinstance(obj, generic.IndirectObject):
        ref = obj.reference
        copy = generic.IndirectObject(ref.idnum, ref.generation, handler)
    elif isinstance(obj, generic.DictionaryObject):
        copy = generic.DictionaryObject(
            {k: _rebind(v, handler, container) for k, v in obj.items()})
    elif isinstance(obj, generic.ArrayObject):
        copy = generic.ArrayObject(_rebind(v, handler, container) for v in obj)
    else:
        return obj
    copy.container_ref = container
    return copy


class IndexedTrailer(xref.TrailerDictionary):
    """Knows the keys of all its revisions, so a missing key costs one set lookup."""

    def __init__(self) -> None:
        super().__init__()
        self._keys: set = set()

    def add_trailer_revision(self, trailer_dict) -> None:
        super().add_trailer_revision(trailer_dict)
        self._keys.update(trailer_dict.keys())

    def raw_get(self, key, decrypt=generic.EncryptedObjAccess.TRANSPARENT, revision=None):
        if revision is None and key not in self._keys and key not in self._new_changes:
            raise KeyError(key)
        return super().raw_get(key, decrypt, revision)


class CachingXRefBuilder(xref.XRefBuilder):
    """Reuses the parse of a cross-reference section seen at the same offset with the
    same bytes (the earlier revisions of a file signed again)."""

    def __init__(self, handler, stream, strict, last_startxref) -> None:
        used.add("XRefBuilder")
        super().__init__(handler, stream, strict, last_startxref)
        trailer = IndexedTrailer()
        trailer.container_ref = self.trailer.container_ref
        self.trailer = trailer

    def _read_xref_stream(self, declared_startxref: int):
        return self._cached(declared_startxref, super()._read_xref_stream)

    def _read_xref_table(self, declared_startxref: int):
        return self._cached(declared_startxref, super()._read_xref_table)

    def _cached(self, declared_startxref: int, parse):
        stream = self.stream
        start = stream.tell()
        key = (declared_startxref, start, self.strict)
        for raw, parsed in _sections.get(key, ()):
            if stream.read(len(raw)) == raw:
                _sections.move_to_end(key)
                self._reuse(parsed)
                return parsed.prev
            stream.seek(start)
        prev = parse(declared_startxref)
        section, trailer = self.sections[-1], self.trailer._trailer_revisions[-1]
        if (section.meta_info.xref_section_type in (xref.XRefSectionType.STANDARD,
                                                    xref.XRefSectionType.STREAM)
                and "/Encrypt" not in trailer):
            end = stream.tell()
            stream.seek(start)
            raw = stream.read(end - start)
            template = _rebind(trailer, None)
            entry = _Parsed(section, template, prev, _top_level_refs(template))
            entries = _sections.setdefault(key, [])
            entries.insert(0, (raw, entry))
            del entries[ENTRIES_PER_OFFSET:]
            _sections.move_to_end(key)
            while len(_sections) > CACHE_ENTRIES:
                _sections.popitem(last=False)
        return prev

    def _reuse(self, parsed: _Parsed) -> None:
        meta = parsed.section.meta_info
        if meta.stream_ref is not None:
            meta = dataclasses.replace(meta, stream_ref=generic.Reference(
                meta.stream_ref.idnum, meta.stream_ref.generation, self.handler))
        self.sections.append(xref.XRefSection(meta, parsed.section.xref_data))
        self.trailer.add_trailer_revision(parsed.trailer_for(self.handler))


class CachingReader(reader.PdfFileReader):
    """Reuses the parse of an object whose bytes it has seen at the same offset."""

    def _read_object(self, ref, marker, never_decrypt=False, as_metadata_stream=False):
        if not isinstance(marker, int) or as_metadata_stream or self.encrypt_dict is not None:
            return super()._read_object(ref, marker, never_decrypt, as_metadata_stream)
        key = (marker, ref.idnum, ref.generation, self.strict)
        found = _objects.get(key)
        if found is not None:
            raw, template = found
            self.stream.seek(marker)
            if self.stream.read(len(raw)) == raw:
                _objects.move_to_end(key)
                return _rebind(template, self, generic.Reference(ref.idnum, ref.generation, self))
        obj = super()._read_object(ref, marker, never_decrypt, as_metadata_stream)
        end = self.stream.tell()
        if not isinstance(obj, generic.StreamObject) and end - marker <= OBJECT_MAX_BYTES:
            self.stream.seek(marker)
            _remember(key, self.stream.read(end - marker), _rebind(obj, None))
            self.stream.seek(end)
        return obj


def _remember(key, raw: bytes, template) -> None:
    global _object_bytes
    old = _objects.pop(key, None)
    if old is not None:
        _object_bytes -= len(old[0])
    _objects[key] = (raw, template)
    _object_bytes += len(raw)
    while len(_objects) > OBJECT_ENTRIES or _object_bytes > OBJECT_BYTES:
        _object_bytes -= len(_objects.popitem(last=False)[1][0])


class IndexedXRefCache(xref.XRefCache):
    """Looks an object up only in the sections that mention its number."""

    def __init__(self, reader_, xref_sections) -> None:
        used.add("XRefCache")
        super().__init__(reader_, xref_sections)
        index: dict[int, list[int]] = {}
        for ix, section in enumerate(xref_sections):
            for data in (section.xref_data,
                         section.xref_data.hybrid and section.xref_data.hybrid.xref_data):
                if data is None:
                    continue
                for idnum in {*data.standard_xrefs, *data.xrefs_in_objstm, *data.freed}:
                    found = index.setdefault(idnum, [])
                    if not found or found[-1] != ix:
                        found.append(ix)
        self._by_id = index

    def _candidates(self, ref, newest: int):
        """Indices of the sections that may resolve `ref`, newest first, up to `newest`."""
        return (ix for ix in reversed(self._by_id.get(ref.idnum, ())) if ix <= newest)

    def get_last_change(self, ref):
        for ix in self._candidates(ref, len(self._xref_sections) - 1):
            try:
                self._xref_sections[ix].xref_data.try_resolve(ref)
                return ix
            except KeyError:
                pass
        raise KeyError(ref)

    def get_introducing_revision(self, ref):
        for ix in self._by_id.get(ref.idnum, ()):
            try:
                if self._xref_sections[ix].xref_data.try_resolve(ref) is not None:
                    return ix
            except KeyError:
                pass
        raise KeyError(ref)

    def get_historical_ref(self, ref, revision):
        for ix in self._candidates(ref, revision):
            try:
                return self._xref_sections[ix].xref_data.try_resolve(ref)
            except KeyError:
                continue
        return None


def _may_lead_to(field_ref, parent_name: str, with_name: str, refs_seen) -> bool:
    """False only for a field pyHanko would pass over: a named field that is neither the
    one asked for nor one of its ancestors."""
    if not isinstance(field_ref, generic.IndirectObject) or field_ref.reference in refs_seen:
        return True
    field = field_ref.get_object()
    if not isinstance(field, generic.DictionaryObject) or "/T" not in field:
        return True
    name = field["/T"]
    full = f"{parent_name}.{name}" if parent_name else name
    return with_name.startswith(full)


def enumerate_fields_in(field_list, filled_status=None, with_name=None, parent_name="",
                        parents=None, *, refs_seen, target_field_type):
    """pyHanko's `enumerate_fields_in`, first dropping the fields that cannot match
    `with_name`, whose values pyHanko would otherwise read."""
    used.add("enumerate_fields_in")
    if with_name is not None and isinstance(field_list, generic.ArrayObject):
        field_list = generic.ArrayObject(
            ref for ref in field_list if _may_lead_to(ref, parent_name, with_name, refs_seen))
    return form_tools.enumerate_fields_in(
        field_list, filled_status, with_name, parent_name, parents, refs_seen=refs_seen,
        target_field_type=target_field_type)


_check_consistency = xref._check_xref_consistency


def check_xref_consistency(sections) -> None:
    """pyHanko's strict consistency check, its check that no later revision overwrites a
    cross-reference stream object made in one pass over the sections."""
    used.add("_check_xref_consistency")
    last_written: dict = {}
    for ix, section in enumerate(sections):
        for ref in section.xref_data.explicit_refs_in_revision:
            last_written[ref] = ix
    for ix, section in enumerate(sections):
        ref = section.meta_info.stream_ref
        if ref is not None and last_written.get((ref.idnum, ref.generation), ix) > ix:
            raise misc.PdfStrictReadError(
                "XRef stream objects must not be clobbered in strict mode.")
    _check_consistency([
        dataclasses.replace(s, meta_info=dataclasses.replace(s.meta_info, stream_ref=None))
        if s.meta_info.stream_ref is not None else s for s in sections])


# (module, name, replacement): what `install_reader` swaps in pyHanko.
PATCHES = (
    (xref, "_check_xref_consistency", check_xref_consistency),
    (reader, "XRefBuilder", CachingXRefBuilder),
    (reader, "XRefCache", IndexedXRefCache),
    (incremental_writer, "PdfFileReader", CachingReader),
    (fields, "enumerate_fields_in", enumerate_fields_in),
)


def report() -> dict:
    """What is in effect in this process: the names patched, the replacements that ran,
    the entries of the parse caches (the reader's own cache fills only through it)."""
    return {"patched": sorted(name for module, name, value in PATCHES
                              if getattr(module, name) is value),
            "used": sorted(used), "sections": len(_sections), "objects": len(_objects)}


def install_reader() -> None:
    """Makes every reader that pyHanko's incremental writer opens in this process, and its
    search for the field to sign, use what is above (signing workers only); checks first."""
    install()
    if disabled("pyhanko.revisions"):
        return
    for module, name, value in PATCHES:
        setattr(module, name, value)


# --- pyhanko.pades_cms ------------------------------------------------------------------

# What KeptKeySigner.async_sign overrides, parameter for parameter.
ASYNC_SIGN_PARAMETERS = ("self", "data_digest", "digest_algorithm", "dry_run", "use_pades",
                         "timestamper", "signed_attr_settings", "is_pdf_sig",
                         "encap_content_info")
_pades_cms = True


def plain_pades_request(*, data_digest, digest_algorithm, dry_run, use_pades, timestamper,
                        signed_attr_settings, is_pdf_sig, encap_content_info) -> bool:
    """Whether `Signer.async_sign` was asked for what workflows.trust.pades_cms assembles:
    a timestamped PAdES signature over a SHA-256 digest, with pyHanko's baseline signed
    attributes only. Anything else (a dry run, CAdES attributes, Adobe's revocation
    attribute, no timestamper...) is left to pyHanko."""
    attrs = signed_attr_settings
    return (_pades_cms and not dry_run and use_pades and is_pdf_sig
            and timestamper is not None and encap_content_info is None
            and digest_algorithm.lower() == "sha256"
            and (attrs is None or (attrs.cades_signed_attrs is None
                                   and not attrs.adobe_revinfo_attr)))


# --- pyhanko.byterange_text -------------------------------------------------------------

# The start of the SigningError pyHanko raises when a CMS outgrows the reserved /Contents.
CONTAINER_TOO_SMALL = "Final ByteRange payload larger than expected"
_byterange_text = True


def container_too_small(exc: Exception) -> bool:
    """Whether pyHanko's `exc` says the signature outgrew the room reserved for it."""
    return (_byterange_text and isinstance(exc, general.SigningError)
            and CONTAINER_TOO_SMALL in str(exc))


# --- install -----------------------------------------------------------------------------

_checked = False


def install() -> None:
    """Checks that pyHanko still has every name, parameter and text the overrides above rely
    on (raises compat.CompatError), and reads PARAPHE_COMPAT_DISABLE. Idempotent."""
    global _checked, _pades_cms, _byterange_text
    if not _checked:
        _check()
        _checked = True
    _pades_cms = not disabled("pyhanko.pades_cms")
    _byterange_text = not disabled("pyhanko.byterange_text")


def _check() -> None:
    c = Checks("pyhanko", "0.38", "pyhanko", "compat/pyhanko.py")
    # pyhanko.revisions: the replaced names, where pyHanko looks them up, what the
    # replacements override and read.
    c.name(reader, "XRefBuilder")
    c.name(reader, "XRefCache")
    c.name(incremental_writer, "PdfFileReader")
    c.name(fields, "enumerate_fields_in")
    c.name(xref, "_check_xref_consistency")
    c.uses(c.name(reader, "_read_xrefs_and_trailer"), "XRefBuilder", "XRefCache")
    c.uses(incremental_writer.IncrementalPdfFileWriter.__init__, "PdfFileReader")
    c.uses(fields.prepare_sig_field, "enumerate_fields_in")
    c.uses(c.name(xref.XRefBuilder, "read_xrefs", ("self",)), "_check_xref_consistency")
    c.params(_check_consistency, ("all_sections",))
    c.name(xref.XRefBuilder, "__init__",
           ("self", "handler", "stream", "strict", "last_startxref"))
    c.uses(xref.XRefBuilder.__init__, "handler", "stream", "strict", "sections", "trailer")
    c.name(xref.XRefBuilder, "_read_xref_stream", ("self", "declared_startxref"))
    c.name(xref.XRefBuilder, "_read_xref_table", ("self", "declared_startxref"))
    c.name(xref.TrailerDictionary, "add_trailer_revision", ("self", "trailer_dict"))
    c.name(xref.TrailerDictionary, "raw_get", ("self", "key", "decrypt", "revision"))
    trailer = xref.TrailerDictionary()
    c.attribute(trailer, "_trailer_revisions")
    c.attribute(trailer, "_new_changes")
    c.fields(xref.XRefSection, "meta_info", "xref_data")
    c.fields(xref.XRefSectionMetaInfo, "xref_section_type", "stream_ref")
    c.name(xref.XRefSectionType, "STANDARD")
    c.name(xref.XRefSectionType, "STREAM")
    for name in ("standard_xrefs", "xrefs_in_objstm", "freed", "hybrid",
                 "explicit_refs_in_revision"):
        c.uses(xref.XRefSectionData.__init__, name)
    c.name(xref.XRefSectionData, "try_resolve", ("self", "ref"))
    c.name(xref.XRefCache, "__init__", ("self", "reader", "xref_sections"))
    c.uses(xref.XRefCache.__init__, "_xref_sections")
    for name in ("get_last_change", "get_introducing_revision"):
        c.name(xref.XRefCache, name, ("self", "ref"))
    c.name(xref.XRefCache, "get_historical_ref", ("self", "ref", "revision"))
    c.name(reader.PdfFileReader, "_read_object",
           ("self", "ref", "marker", "never_decrypt", "as_metadata_stream"))
    c.name(form_tools, "enumerate_fields_in",
           ("field_list", "filled_status", "with_name", "parent_name", "parents", "refs_seen",
            "target_field_type"))
    # pyhanko.pades_cms: the method overridden, and the attributes pyHanko builds.
    c.name(pdf_cms.Signer, "async_sign", ASYNC_SIGN_PARAMETERS)
    c.name(pdf_cms.Signer, "async_sign_raw", ("self", "data", "digest_algorithm", "dry_run"))
    c.name(pdf_cms.Signer, "get_signature_mechanism_for_digest", ("self", "digest_algorithm"))
    c.fields(pdf_cms.PdfCMSSignedAttributes, "signing_time", "cades_signed_attrs",
             "adobe_revinfo_attr")
    c.name(general, "as_signing_certificate_v2")
    c.name(timestamps.TimeStamper, "async_timestamp", ("self", "message_digest", "md_algorithm"))
    # pyhanko.byterange_text
    c.text(c.name(pdf_byterange.PreparedByteRangeDigest, "fill_reserved_region"),
           CONTAINER_TOO_SMALL)
