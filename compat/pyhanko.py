"""pyHanko 0.38: what Paraphe overrides or relies on, checked by `install()`.

Three things, each with its canary in tests/compat/test_pyhanko.py:

- `pyhanko.revisions`: pyHanko's reader, tuned for files with hundreds of incremental
  revisions (below). Six names of pyHanko are replaced, three of them private; signing
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

Kept across signatures. That still reads every section and field once per signature,
and hashes the whole file for the signature's digest. A signing worker that wrote a
version knows its digest, and signs the next one (workflows.pdf.engine routes the
signatures of a document to one worker); inside `known_prefixes(stream, known, state)`
a reader splices in the whole chain of sections it kept for a prefix whose digest the
worker vouches for and parses only the sections after it (their strict check against
the chain in time proportional to them), names a field whose bytes lie in such a prefix
from what it read before, and `fill` starts the document digest from the SHA-256 state
after the prefix. Outside it (any other file, any other process) nothing changes.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import hashlib
import os
from collections import OrderedDict
from itertools import chain, islice

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
# Whole chains of sections, by the SHA-256 of the file they were read from: (see _Chain)
CHAIN_ENTRIES = 8
_chains: OrderedDict = OrderedDict()
# The stream being signed, with the digests of prefixes of it the signing worker knows
# (size -> SHA-256): set by `known_prefixes` for one job.
_known: tuple = (None, {})
# The stream being signed with (size, SHA-256 state after its first `size` bytes).
_digest_state: tuple = (None, None)
# The last builder that ran, handed to the xref cache and the reader built from it.
_built = None
# Sections read (parsed, or found in the cache by their bytes) and chains spliced in this
# process: what tells that a signature read only the revisions it adds.
counts = {"sections_read": 0, "chains_spliced": 0, "field_names_kept": 0, "digest_bytes": 0}
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


@dataclasses.dataclass(frozen=True)
class _Chain:
    """Every section of a file that a signing worker read, kept to read the same file with
    more revisions appended without parsing again what it had (`known_prefixes`)."""

    sha256: str  # of the file's `size` bytes
    size: int
    startxref: int  # where its newest section is
    strict: bool
    sections: tuple  # chronological, bound to no file
    templates: tuple  # the trailers, newest first, bound to no file
    flat: generic.DictionaryObject  # their flattening, bound to no file
    keys: frozenset
    index: dict  # IndexedXRefCache's, shared (never changed in place)
    stream_refs: frozenset
    stream_ids: frozenset  # the same as (number, generation) pairs
    freeing: tuple  # the sections that free objects
    max_size: int  # the largest /Size declared
    has_xref_stream: bool
    # The sizes and digests of the prefixes of the file kept so far, this one last.
    lineage: tuple = ((), ())


@contextlib.contextmanager
def known_prefixes(stream, known, digest_state=None):
    """While signing `stream`, whose first `size` bytes have the SHA-256 `digest` for each
    (size, digest) of `known`: a reader of it splices in the sections kept for such a
    prefix (read by this process from a file of that digest) instead of parsing them, and
    keeps the sections of the file it read when its whole size is in `known`. With
    `digest_state` (size, hashlib SHA-256 state after the stream's first `size` bytes), a
    signature's document digest starts from that state rather than from the first byte.
    The caller vouches for the digests (it hashed the bytes, or they are the stored
    version's)."""
    global _known, _digest_state
    _known, _digest_state = (stream, dict(known)), (stream, digest_state)
    try:
        yield
    finally:
        _known, _digest_state = (None, {}), (None, None)


def _attested_chain(stream, startxref: int, strict: bool) -> _Chain | None:
    known_stream, known = _known
    if stream is not known_stream:
        return None
    for size, digest in known.items():
        found = _chains.get(digest)
        if (found is not None and found.size == size and found.startxref == startxref
                and found.strict == strict):
            _chains.move_to_end(digest)
            return found
    return None


def _unbound(section):
    meta = section.meta_info
    if meta.stream_ref is None or meta.stream_ref.pdf is None:
        return section
    return xref.XRefSection(dataclasses.replace(meta, stream_ref=generic.Reference(
        meta.stream_ref.idnum, meta.stream_ref.generation)), section.xref_data)


def _keep_chain(reader_) -> None:
    """Keeps the sections `reader_` read when the caller vouched for the whole file."""
    global _built
    built, _built = _built, None
    known_stream, known = _known
    if built is None or built.handler is not reader_ or not built.cacheable or \
            reader_.stream is not known_stream or built.chrono is None:
        return
    stream = reader_.stream
    at = stream.tell()
    size = stream.seek(0, os.SEEK_END)
    stream.seek(at)
    prior = built.spliced
    digest = known.get(size)
    kept = _chains.get(digest) if digest is not None else None
    if kept is not None or digest is None:
        # What this reader may trust of its bytes: the prefixes it continues.
        source = kept or prior
        if source is not None:
            reader_.kept_lineage = source.lineage
        return
    count = len(prior.sections) if prior else 0
    new = [_unbound(s) for s in built.chrono[count:]]
    if len(new) != len(built.templates):
        return
    templates = tuple(built.templates) + (prior.templates if prior else ())
    flat = generic.DictionaryObject(prior.flat if prior else {})
    for template in reversed(built.templates):  # oldest first
        flat.update(template)
    _chains[digest] = _Chain(
        sha256=digest, size=size, startxref=reader_.last_startxref, strict=built.strict,
        sections=(prior.sections if prior else ()) + tuple(new), templates=templates,
        flat=flat, keys=frozenset(flat.keys()) | (prior.keys if prior else frozenset()),
        index=reader_.xrefs._by_id,
        stream_refs=frozenset(reader_.xrefs.xref_stream_refs),
        stream_ids=frozenset((r.idnum, r.generation) for r in reader_.xrefs.xref_stream_refs),
        freeing=(prior.freeing if prior else ()) + tuple(s for s in new if s.xref_data.freed),
        max_size=max([prior.max_size if prior else 0, *(s.meta_info.size for s in new)]),
        has_xref_stream=built.has_xref_stream,
        lineage=((*prior.lineage[0], size), (*prior.lineage[1], digest)) if prior
        else ((size,), (digest,)))
    reader_.kept_lineage = _chains[digest].lineage
    while len(_chains) > CHAIN_ENTRIES:
        _chains.popitem(last=False)


class IndexedTrailer(xref.TrailerDictionary):
    """Knows the keys of all its revisions, so a missing key costs one set lookup.

    The revisions of a spliced chain (see _Chain) stay unbound templates, older than those
    in `_trailer_revisions`; a value read from one is bound to this file's handler then."""

    def __init__(self, handler=None) -> None:
        super().__init__()
        self._keys: set = set()
        self._handler = handler
        self._lazy: tuple = ()  # templates, newest first
        self._lazy_flat = None  # their flattened template

    def add_trailer_revision(self, trailer_dict) -> None:
        super().add_trailer_revision(trailer_dict)
        self._keys.update(trailer_dict.keys())

    def splice(self, chain: _Chain) -> None:
        self._lazy, self._lazy_flat = chain.templates, chain.flat
        self._keys.update(chain.keys)

    def _revisions(self):
        """(revision, handler to bind its values to or None), newest first."""
        yield from ((rev, None) for rev in self._trailer_revisions)
        yield from ((rev, self._handler) for rev in self._lazy)

    def raw_get(self, key, decrypt=generic.EncryptedObjAccess.TRANSPARENT, revision=None):
        if revision is None and key not in self._keys and key not in self._new_changes:
            raise KeyError(key)
        if not self._lazy:
            return super().raw_get(key, decrypt, revision)
        if revision is None:
            try:
                return self._new_changes.raw_get(key, decrypt)
            except KeyError:
                pass
        total = len(self._trailer_revisions) + len(self._lazy)
        revisions = islice(self._revisions(), 0 if revision is None else total - 1 - revision,
                           None)
        for rev, handler in revisions:
            try:
                value = rev.raw_get(key, decrypt)
            except KeyError:
                if key in self.non_trailer_keys:
                    raise
                continue
            return value if handler is None else _rebind(value, handler)
        raise KeyError(key)

    def flatten(self, revision=None) -> generic.DictionaryObject:
        if not self._lazy:
            return super().flatten(revision)
        if revision is None:
            trailer = generic.DictionaryObject(
                {k: _rebind(v, self._handler) for k, v in self._lazy_flat.items()})
            for rev in reversed(self._trailer_revisions):
                trailer.update(rev)
            trailer.update(self._new_changes)
        else:
            relevant = list(self._revisions())[-revision - 1:]
            trailer = generic.DictionaryObject(
                {k: v if handler is None else _rebind(v, handler)
                 for rev, handler in reversed(relevant) for k, v in rev.items()})
        for key in self.non_trailer_keys:
            trailer.pop(key, None)
        return trailer

    def keys(self):
        return frozenset(chain(self._new_changes, self._keys))


class CachingXRefBuilder(xref.XRefBuilder):
    """Reuses the parse of a cross-reference section seen at the same offset with the
    same bytes (the earlier revisions of a file signed again)."""

    def __init__(self, handler, stream, strict, last_startxref) -> None:
        used.add("XRefBuilder")
        super().__init__(handler, stream, strict, last_startxref)
        trailer = IndexedTrailer(handler)
        trailer.container_ref = self.trailer.container_ref
        self.trailer = trailer
        # What registering this file's chain takes: every section plain, the trailer
        # template of each section read (newest first), the chain spliced in if any.
        self.cacheable = True
        self.templates: list = []
        self.spliced: _Chain | None = None
        self.chrono: list | None = None

    def read_xrefs(self):
        global _built
        _built = None
        try:
            self.chrono = super().read_xrefs()
        finally:
            _splice_checked.clear()
        _built = self
        return self.chrono

    def _read_xref_stream(self, declared_startxref: int):
        return self._cached(declared_startxref, super()._read_xref_stream)

    def _read_xref_table(self, declared_startxref: int):
        return self._cached(declared_startxref, super()._read_xref_table)

    def _cached(self, declared_startxref: int, parse):
        found = _attested_chain(self.stream, declared_startxref, self.strict)
        if found is not None and self.cacheable:
            self._splice(found)
            return None  # The chain holds every earlier section.
        counts["sections_read"] += 1
        stream = self.stream
        start = stream.tell()
        key = (declared_startxref, start, self.strict)
        for raw, parsed in _sections.get(key, ()):
            if stream.read(len(raw)) == raw:
                _sections.move_to_end(key)
                self._reuse(parsed)
                self.templates.append(parsed.trailer)
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
            self.templates.append(template)
            entries = _sections.setdefault(key, [])
            entries.insert(0, (raw, entry))
            del entries[ENTRIES_PER_OFFSET:]
            _sections.move_to_end(key)
            while len(_sections) > CACHE_ENTRIES:
                _sections.popitem(last=False)
        else:
            self.cacheable = False
        return prev

    def _splice(self, found: _Chain) -> None:
        used.add("chain")
        counts["chains_spliced"] += 1
        self.sections.extend(reversed(found.sections))
        self.trailer.splice(found)
        self.has_xref_stream = self.has_xref_stream or found.has_xref_stream
        self.spliced = found
        _splice_checked[:] = [found]

    def _reuse(self, parsed: _Parsed) -> None:
        meta = parsed.section.meta_info
        if meta.stream_ref is not None:
            meta = dataclasses.replace(meta, stream_ref=generic.Reference(
                meta.stream_ref.idnum, meta.stream_ref.generation, self.handler))
        self.sections.append(xref.XRefSection(meta, parsed.section.xref_data))
        self.trailer.add_trailer_revision(parsed.trailer_for(self.handler))


class CachingReader(reader.PdfFileReader):
    """Reuses the parse of an object whose bytes it has seen at the same offset, and keeps
    the sections it read for the next revision of the same file (`known_prefixes`)."""

    def __init__(self, stream, strict=True, decode_limits=None) -> None:
        super().__init__(stream, strict=strict, decode_limits=decode_limits)
        _keep_chain(self)

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


def _index(sections, index: dict, first: int) -> dict:
    """Adds to `index` (object number -> the indices of the sections that mention it) the
    `sections`, the first of which is section number `first`."""
    for ix, section in enumerate(sections, first):
        for data in (section.xref_data,
                     section.xref_data.hybrid and section.xref_data.hybrid.xref_data):
            if data is None:
                continue
            for idnum in {*data.standard_xrefs, *data.xrefs_in_objstm, *data.freed}:
                found = index.get(idnum)
                if found is None:
                    index[idnum] = [ix]
                elif found[-1] != ix:
                    # A new list: a chain's index is shared by the readers it is spliced into.
                    index[idnum] = [*found, ix]
    return index


class IndexedXRefCache(xref.XRefCache):
    """Looks an object up only in the sections that mention its number."""

    def __init__(self, reader_, xref_sections) -> None:
        used.add("XRefCache")
        built = _built
        found = built.spliced if built is not None and built.chrono is xref_sections else None
        if found is None:
            super().__init__(reader_, xref_sections)
            self._by_id = _index(xref_sections, {}, 0)
            return
        # A spliced chain brings the index and stream references of its sections.
        self.reader = reader_
        self._xref_sections = xref_sections
        new = xref_sections[len(found.sections):]
        self.xref_stream_refs = found.stream_refs | {
            s.meta_info.stream_ref for s in new if s.meta_info.stream_ref is not None}
        self._by_id = _index(new, dict(found.index), len(found.sections))

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


# Field names, by the prefix of a lineage that holds the field's bytes (its digest), the
# field's offset and its reference: `_field_name`.
FIELD_NAMES = 200_000
_field_names: OrderedDict = OrderedDict()
_UNNAMED = object()


def _read_name(field_ref):
    field = field_ref.get_object()
    if not isinstance(field, generic.DictionaryObject) or "/T" not in field:
        return _UNNAMED, False
    return str(field["/T"]), not isinstance(field.raw_get("/T"), generic.IndirectObject)


def _field_name(field_ref):
    """The /T of a field (or _UNNAMED), read once per lineage: a field whose bytes lie in a
    prefix the signing worker vouched for (`known_prefixes`) has the same name in every
    later revision of that file that did not move it, so it is not parsed again."""
    ref = field_ref.reference
    handler = ref.pdf
    lineage = getattr(handler, "kept_lineage", None)
    if lineage is None:
        return _read_name(field_ref)[0]
    xrefs = handler.xrefs
    marker = xrefs.get_historical_ref(ref, xrefs.total_revisions - 1)
    sizes, digests = lineage
    at = bisect.bisect_right(sizes, marker) if isinstance(marker, int) else len(sizes)
    if at == len(sizes):
        return _read_name(field_ref)[0]
    # The smallest prefix holding the field: the same for every file of the lineage.
    key = (digests[at], marker, ref.idnum, ref.generation)
    name = _field_names.get(key)
    if name is None:
        name, plain = _read_name(field_ref)
        if plain:
            _field_names[key] = name
            while len(_field_names) > FIELD_NAMES:
                _field_names.popitem(last=False)
    else:
        counts["field_names_kept"] += 1
    return name


def _may_lead_to(field_ref, parent_name: str, with_name: str, refs_seen) -> bool:
    """False only for a field pyHanko would pass over: a named field that is neither the
    one asked for nor one of its ancestors."""
    if not isinstance(field_ref, generic.IndirectObject) or field_ref.reference in refs_seen:
        return True
    name = _field_name(field_ref)
    if name is _UNNAMED:
        return True
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


_fill = pdf_byterange.PdfByteRangeDigest.fill


def fill(self, writer, md_algorithm, in_place=False, output=None,
         chunk_size=misc.DEFAULT_CHUNK_SIZE):
    """pyHanko's `PdfByteRangeDigest.fill`, whose document digest starts from the state
    `known_prefixes` gave for the stream's first bytes when they precede the signature's
    /Contents: a signature hashes the revision it adds, not the whole file again."""
    stream, state = _digest_state
    if not (in_place and state is not None and md_algorithm == "sha256"
            and isinstance(writer, incremental_writer.IncrementalPdfFileWriter)
            and writer.prev.stream is stream):
        return (yield from _fill(self, writer, md_algorithm, in_place, output, chunk_size))
    used.add("fill")
    writer.digest_aware_write = True
    output = writer.prev.stream
    writer.write_in_place()
    eof = output.tell()
    sig_start, sig_end = self.contents.offsets
    self.byte_range.fill_offsets(output, sig_start, sig_end, eof)
    size, md = state[0], state[1].copy()
    if sig_start < size:  # Not an appended revision: hash it all as pyHanko does.
        size, md = 0, hashlib.sha256()
    _digest_range(output, md, size, sig_start, chunk_size)
    _digest_range(output, md, sig_end, eof, chunk_size)
    prepared = pdf_byterange.PreparedByteRangeDigest(
        document_digest=md.digest(), reserved_region_start=sig_start,
        reserved_region_end=sig_end)
    cms_data = yield prepared, output
    yield prepared.fill_with_cms(output, cms_data)


def _digest_range(stream, md, start: int, end: int, chunk_size: int) -> None:
    stream.seek(start)
    while start < end:
        chunk = stream.read(min(chunk_size, end - start))
        if not chunk:
            raise misc.PdfReadError("the file ended before its byte range")
        md.update(chunk)
        start += len(chunk)
        counts["digest_bytes"] += len(chunk)


_check_consistency = xref._check_xref_consistency
# The chain the builder under way spliced in: its sections were checked when it was read.
_splice_checked: list = []
# A spliced chain with more sections freeing objects than this is checked whole again.
FREEING_CHECKED_APART = 16
_PLAIN = (xref.XRefSectionType.STANDARD, xref.XRefSectionType.STREAM)


def _without_stream_ref(section):
    if section.meta_info.stream_ref is None:
        return section
    return dataclasses.replace(section, meta_info=dataclasses.replace(section.meta_info,
                                                                      stream_ref=None))


def _check_appended(sections, kept: _Chain) -> bool:
    """The strict check of sections appended to a chain checked before: what pyHanko's check
    finds about them, in time proportional to them. False when it cannot tell (a hybrid
    or higher-generation entry, many frees): then the whole check runs."""
    count = len(kept.sections)
    if len(sections) < count or sections[count - 1] is not kept.sections[-1] or \
            sections[0] is not kept.sections[0]:
        return False
    new = sections[count:]
    if len(kept.freeing) > FREEING_CHECKED_APART or any(
            s.meta_info.xref_section_type not in _PLAIN or s.xref_data.hybrid is not None
            or next(s.xref_data.higher_generation_refs(), None) is not None for s in new):
        return False
    added: set = set()
    largest = kept.max_size
    for section in new:
        written = section.xref_data.explicit_refs_in_revision
        if not kept.stream_ids.isdisjoint(written) or not added.isdisjoint(written):
            raise misc.PdfStrictReadError(
                "XRef stream objects must not be clobbered in strict mode.")
        if section.meta_info.stream_ref is not None:
            ref = section.meta_info.stream_ref
            added.add((ref.idnum, ref.generation))
        if section.meta_info.size < largest:
            raise misc.PdfStrictReadError(
                f"XRef section sizes must be nondecreasing; found XRef section "
                f"of size {section.meta_info.size} after section of size {largest}.")
        largest = max(largest, section.meta_info.size)
    plain_new = [_without_stream_ref(s) for s in new]
    for earlier in kept.freeing:  # against the appended sections only
        xref._check_freed_refs(0, _without_stream_ref(earlier), [earlier, *plain_new])
    for ix, section in enumerate(plain_new):
        xref._check_freed_refs(ix + 1, section, [kept.sections[-1], *plain_new])
    return True


def check_xref_consistency(sections) -> None:
    """pyHanko's strict consistency check, its check that no later revision overwrites a
    cross-reference stream object made in one pass over the sections; for a spliced chain,
    the check of what was appended to it."""
    used.add("_check_xref_consistency")
    if _splice_checked and _check_appended(sections, _splice_checked[0]):
        return
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
    (pdf_byterange.PdfByteRangeDigest, "fill", fill),
)


def report() -> dict:
    """What is in effect in this process: the names patched, the replacements that ran,
    the entries of the parse caches (the reader's own cache fills only through it)."""
    return {"patched": sorted(name for module, name, value in PATCHES
                              if getattr(module, name) is value),
            "used": sorted(used), "sections": len(_sections), "objects": len(_objects),
            "chains": len(_chains), **counts}


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
    c.name(pdf_byterange.PdfByteRangeDigest, "fill",
           ("self", "writer", "md_algorithm", "in_place", "output", "chunk_size"))
    c.uses(pdf_byterange.PdfByteRangeDigest.fill, "digest_aware_write", "write_in_place",
           "contents", "offsets", "byte_range", "fill_offsets", "fill_with_cms")
    c.fields(pdf_byterange.PreparedByteRangeDigest, "document_digest",
             "reserved_region_start", "reserved_region_end")
    c.attribute(incremental_writer.IncrementalPdfFileWriter, "write_in_place")
    c.name(xref, "_check_freed_refs", ("ix", "section", "all_sections"))
    c.name(xref.XRefSectionData, "higher_generation_refs", ("self",))
    c.name(xref.TrailerDictionary, "flatten", ("self", "revision"))
    c.name(xref.TrailerDictionary, "keys", ("self",))
    c.uses(xref.TrailerDictionary.__contains__, "raw_get")
    c.name(reader.PdfFileReader, "__init__", ("self", "stream", "strict", "decode_limits"))
    c.uses(reader.PdfFileReader.__init__, "last_startxref", "stream", "xrefs")
    c.uses(xref.XRefCache.__init__, "reader", "xref_stream_refs")
    c.uses(xref.XRefBuilder.read_xrefs, "_read_xref_table", "_read_xref_stream")
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
