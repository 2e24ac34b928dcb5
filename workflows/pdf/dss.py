"""Appending validation data to a PDF's DSS in time independent of the DSS's size.

pyHanko's `DocumentSecurityStore.supply_dss_in_writer` reads and parses every certificate,
OCSP answer and CRL already in the DSS to avoid storing one twice. In a collection where
each of n signers adds their own data, the n-th signature then parses everything the n-1
before it added: 160 ms per signature at 250 signers and 400 ms at 400, measured
(/tmp/dss_bench2.py in the closing note of issue 16). Here only the items another
signature may share are read: the whole CRL array (one CRL per issuer and period), and the
first and last SHARED_WINDOW certificates and OCSP answers (the chains, written by the first
signature; the TSA's and a renewed responder's, written recently). What is new to this
signature (its one-time certificate, the answers made after its timestamp) is appended
without reading the rest.

Every incremental update rewrites the DSS's arrays whole (a PDF array cannot be extended in
place), so the bytes each update adds grow with the DSS. VRI entries (optional in
EN 319 142-1, used by some validators to find a signature's data faster) double that
growth: the first VRI_LIMIT signatures of a document get one, later ones only the arrays.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.validation.dss import VRI, DocumentSecurityStore, enumerate_ocsp_certs

# Items read at each end of the certificate and OCSP arrays to find shared data.
SHARED_WINDOW = 16
# Signatures per document that get a VRI entry.
VRI_LIMIT = 16
# DSS array, the VRI class's field and how pyHanko reads each kind of item.
_KINDS = (("/Certs", "certs", DecodePurpose.CERTIFICATE),
          ("/OCSPs", "ocsps", DecodePurpose.OCSP_RESPONSE),
          ("/CRLs", "crls", DecodePurpose.CRL))


def append(writer: IncrementalPdfFileWriter, *, certs: Iterable, ocsps: Iterable,
           crls: Iterable, sig_contents: bytes | None = None) -> bool:
    """Adds asn1crypto `certs`, `ocsps` (with the certificates they carry) and `crls` to the
    DSS in `writer`, with a VRI entry for the signature whose /Contents are `sig_contents`;
    returns False when there was nothing to add. The caller writes the revision."""
    ocsps = list(ocsps)
    carried = [c for r in ocsps for c in enumerate_ocsp_certs(r)]
    items = {
        "/Certs": [c.dump() for c in [*certs, *carried]],
        "/OCSPs": [r.dump() for r in ocsps],
        "/CRLs": [c.dump() for c in crls],
    }
    if not any(items.values()):
        return False
    root = writer.root
    if "/DSS" in root:
        dss = root["/DSS"]
        writer.update_container(dss)
    else:
        dss = generic.DictionaryObject()
        root[pdf_name("/DSS")] = writer.add_object(dss)
        writer.update_root()
    known = _shared_items(dss)
    vri = VRI()
    for array_key, field, _purpose in _KINDS:
        array = list(dss[array_key]) if array_key in dss else []
        used = set()
        for der in items[array_key]:
            digest = hashlib.sha256(der).digest()
            ref = known.get(digest)
            if ref is None:
                ref = writer.add_object(generic.StreamObject(stream_data=der))
                known[digest] = ref
                array.append(ref)
            used.add(ref)
        if array:
            dss[pdf_name(array_key)] = generic.ArrayObject(array)
        setattr(vri, field, used)
    if sig_contents is not None and len(dss["/VRI"] if "/VRI" in dss else ()) < VRI_LIMIT:
        entries = generic.DictionaryObject(dict(dss["/VRI"]) if "/VRI" in dss else {})
        entries[DocumentSecurityStore.sig_content_identifier(sig_contents)] = \
            writer.add_object(vri.as_pdf_object())
        dss[pdf_name("/VRI")] = entries
    return True


def _shared_items(dss: generic.DictionaryObject) -> dict[bytes, generic.IndirectObject]:
    """SHA-256 of each item another signature may share -> its reference."""
    known = {}
    for array_key, _field, purpose in _KINDS:
        refs = list(dss[array_key]) if array_key in dss else []
        if array_key != "/CRLs" and len(refs) > 2 * SHARED_WINDOW:
            refs = refs[:SHARED_WINDOW] + refs[-SHARED_WINDOW:]
        for ref in refs:
            if isinstance(ref, generic.IndirectObject):
                data = ref.get_object().read_data(purpose)
                known[hashlib.sha256(data).digest()] = ref
    return known
