"""The worker's reading of a spooled message: from its spool file as from its bytes."""

from __future__ import annotations

import pickle

from mail_gateway import mime
from mail_gateway.parsing import parse_in_worker
from mail_gateway.spool import Spool
from tests.mail_gateway.hostile import nested

MAIL = (b"Received: from relay\r\nFrom: Paul <paul@cabinet.fr>\r\nSubject: Lettre\r\n"
        b"Message-ID: <m1@cabinet.fr>\r\nAuto-Submitted: auto-replied\r\n\r\nBonjour\r\n")


def _crossed(parsed):
    # What the service receives: the worker's answer goes through a pickle.
    return pickle.loads(pickle.dumps(parsed))


def test_a_spool_file_reads_as_its_message_without_the_envelope(tmp_path):
    path = Spool(tmp_path).write({"command": "seal", "rcpt": "seal@x"}, MAIL)
    from_file = _crossed(parse_in_worker(str(path), True))
    from_bytes = _crossed(parse_in_worker(MAIL, True))
    assert (from_file.mail, from_file.content_hash) == (from_bytes.mail, from_bytes.content_hash)
    assert from_file.content_hash == mime.content_sha256(MAIL)
    assert from_file.mail.message_id == "<m1@cabinet.fr>"
    assert from_file.mail.text == "Bonjour\n"
    assert from_file.headers["Auto-Submitted"] == "auto-replied"  # what the rules read
    assert from_file.unreadable() is None


def test_an_unreadable_message_keeps_its_reason_across_processes():
    parsed = _crossed(parse_in_worker(nested(100, sender=b"paul@cabinet.fr"), True))
    error = parsed.unreadable()
    assert error is not None and error.details["reason"] == "too_deep"
    assert parsed.mail.from_address == "paul@cabinet.fr"  # to answer its sender
