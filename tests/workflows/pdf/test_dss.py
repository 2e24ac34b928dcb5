"""DSS updates that read only what a signature may share: every item stored once, whatever
the DSS's size, and read back the same by pyHanko."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, UTC

from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.validation import DocumentSecurityStore

from tests.pdfs import make_pdf
from workflows.pdf import dss

KEY = ec.generate_private_key(ec.SECP256R1())
START = datetime(2026, 1, 1, tzinfo=UTC)
CA = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])


def _cert(serial: int) -> asn1_x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Signataire {serial}")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(CA)
            .public_key(KEY.public_key()).serial_number(serial)
            .not_valid_before(START).not_valid_after(START + timedelta(days=2))
            .sign(KEY, hashes.SHA256()))
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _crl(number: int) -> asn1_crl.CertificateList:
    crl = (x509.CertificateRevocationListBuilder().issuer_name(CA)
           .last_update(START + timedelta(hours=number))
           .next_update(START + timedelta(hours=number + 24))
           .add_extension(x509.CRLNumber(number), critical=False)
           .sign(KEY, hashes.SHA256()))
    return asn1_crl.CertificateList.load(crl.public_bytes(serialization.Encoding.DER))


def _append(buf: io.BytesIO, **items) -> None:
    writer = IncrementalPdfFileWriter(buf, strict=False)
    assert dss.append(writer, **items)
    writer.write_in_place()


def test_shared_items_are_stored_once_and_pyhanko_reads_them_all(monkeypatch):
    monkeypatch.setattr(dss, "SHARED_WINDOW", 3)
    monkeypatch.setattr(dss, "VRI_LIMIT", 5)
    chain = [_cert(1), _cert(2)]  # shared by every signature, written by the first
    signers = [_cert(100 + i) for i in range(30)]
    first_crl, second_crl = _crl(1), _crl(2)
    buf = io.BytesIO(make_pdf(1))
    for i, signer in enumerate(signers):
        # The CRL is reissued half-way: the new one is stored once, the old one kept.
        crl = first_crl if i < 15 else second_crl
        _append(buf, certs=[signer, *chain], ocsps=[], crls=[crl],
                sig_contents=i.to_bytes(2, "big") * 32)
    read = DocumentSecurityStore.read_dss(IncrementalPdfFileWriter(buf, strict=False))
    stored = [ref.get_object().data for ref in read.certs.values()]
    assert len(read.certs) == len(stored) == 32  # 30 signers + the chain, no duplicate
    assert sorted(stored) == sorted(c.dump() for c in [*chain, *signers])
    assert sorted(ref.get_object().data for ref in read.crls) == sorted(
        [first_crl.dump(), second_crl.dump()])
    assert len(read.vri_entries) == 5
    # pyHanko's own reader parses every certificate back.
    assert {c.serial_number for c in read.load_certs()} == {1, 2, *range(100, 130)}


def test_nothing_to_add_writes_nothing():
    buf = io.BytesIO(make_pdf(1))
    writer = IncrementalPdfFileWriter(buf, strict=False)
    assert not dss.append(writer, certs=[], ocsps=[], crls=[])
