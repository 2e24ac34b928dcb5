"""Several instances on one PostgreSQL: documents and software keys live in the database, so an
instance reads and seals with what another one stored (issue 19); SQLite keeps its files."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tracemalloc
from io import BytesIO
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from paraphe.settings import Settings
from tests.conftest import BACKEND
from tests.workflows.collection_world import make_services, pdf, seed
from workflows import document_chunks, sealing
from workflows.actors import Actor
from workflows.collections import versions
from workflows.document_stores import SharedDocumentStore
from workflows.documents import DocumentStore
from workflows.errors import MasterKeyWrongError
from workflows.models import Certificate, Document, DocumentChunk, StoredKey
from workflows.trust import shared_keys

postgres_only = pytest.mark.skipif(
    BACKEND != "postgres", reason="shared state is PostgreSQL's: PARAPHE_TEST_DATABASE=postgres")
sqlite_only = pytest.mark.skipif(BACKEND != "sqlite", reason="the files of a SQLite instance")

# A chunk is in the driver's buffer and as bytes at once, plus what asyncpg and tortoise
# keep around: a few chunks at most, half the 10 MB document or less.
PEAK = 5 * document_chunks.CHUNK_BYTES


def other_instance(settings, tmp_path, name: str = "b", **changes) -> Settings:
    """Settings of another instance: its own PARAPHE_HOME, the same database."""
    other = settings.model_copy(update={"home": tmp_path / name, **changes})
    other.ensure_home()
    return other


@postgres_only
async def test_an_instance_reads_and_seals_with_what_another_stored(db, settings, tmp_path):
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import async_validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    first = await make_services(settings, workers=1)
    second = None
    try:
        await seed(first)
        # The first instance makes the PKI and the cabinet's seal key with its first seal.
        await sealing.seal_document(first, Actor.operator(), cabinet="dupre",
                                    filename="a.pdf", data=pdf("Premier"))
        (seal_cert,) = await Certificate.filter(kind="seal")
        contract = pdf("Contrat")
        upload = await first.documents.put(contract)

        second = await make_services(other_instance(settings, tmp_path), workers=1)
        b_home = second.settings.home
        assert second.trust.root_pem() == first.trust.root_pem()
        assert not (b_home / "keys" / f"{seal_cert.key_ref}.key").exists()
        assert not second.documents.path(upload.sha256).exists()
        assert await second.documents.read(upload.sha256) == contract

        result = await sealing.seal_document(second, Actor.operator(), cabinet="dupre",
                                             filename="b.pdf", data=pdf("Second"))
        # One seal key for the cabinet, made by the first instance, used by the second.
        assert result.certificate_serial == seal_cert.serial
        assert await Certificate.filter(kind="seal").count() == 1
        assert (b_home / "keys" / f"{seal_cert.key_ref}.key").exists()
        # What the second sealed, the first reads (from the database: not in its folder).
        assert not first.documents.path(result.sha256).exists()
        sealed = await first.documents.read(result.sha256)
        signature, stamp = PdfFileReader(BytesIO(sealed)).embedded_signatures
        assert stamp.sig_object_type == "/DocTimeStamp"
        status = await async_validate_pdf_signature(signature, ValidationContext(
            trust_roots=first.trust.trust_roots(), allow_fetching=False))
        assert status.intact and status.valid and status.trusted
        assert "Cabinet Dupré" in status.signing_cert.subject.human_friendly
    finally:
        first.engine.close()
        if second is not None:
            second.engine.close()


@postgres_only
async def test_a_10_mb_document_goes_through_in_chunks_of_one_megabyte(db, settings, tmp_path):
    size = settings.max_document_bytes
    assert size >= 10 * 1000 * 1000
    data = os.urandom(size)
    sha256 = hashlib.sha256(data).hexdigest()
    writer = SharedDocumentStore(tmp_path / "a" / "documents")
    assert await writer.write(data) == sha256
    sizes = await DocumentChunk.filter(sha256=sha256).order_by("seq").values_list("seq", "data")
    assert [seq for seq, _ in sizes] == list(range(-(-size // document_chunks.CHUNK_BYTES)))
    assert all(len(chunk) <= document_chunks.CHUNK_BYTES for _, chunk in sizes)
    assert sum(len(chunk) for _, chunk in sizes) == size
    del sizes, data

    # Another instance fetches it into its folder holding one chunk at a time.
    reader = SharedDocumentStore(tmp_path / "b" / "documents")
    tracemalloc.start()
    try:
        path = await reader.local_path(sha256)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < PEAK
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256

    # A signed file adopted from the engine's spool is stored from disk the same way.
    spool = tmp_path / "spool.pdf"
    spool.write_bytes(os.urandom(size))
    adopted_sha = hashlib.sha256(spool.read_bytes()).hexdigest()
    tracemalloc.start()
    try:
        row = await reader.adopt(spool, adopted_sha)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < PEAK
    assert row.size == size and not spool.exists()
    assert await DocumentChunk.filter(sha256=adopted_sha).count() == 10


@postgres_only
async def test_forgetting_a_version_deletes_its_chunks(db, settings, tmp_path):
    store = SharedDocumentStore(tmp_path / "documents")
    kept = await store.put(pdf("Gardé"))
    dropped = await store.put(pdf("Intermédiaire"))
    await versions.forget(SimpleNamespace(documents=store), [dropped])
    assert not await Document.filter(id=dropped.id).exists()
    assert not await DocumentChunk.filter(sha256=dropped.sha256).exists()
    assert not store.path(dropped.sha256).exists()
    assert await DocumentChunk.filter(sha256=kept.sha256).exists()


@postgres_only
async def test_two_instances_creating_one_key_at_once_keep_one(db, settings, tmp_path):
    # Two instances starting together on an empty keystore agree on one master key check.
    first, second = await asyncio.gather(
        shared_keys.open_shared_keystore(other_instance(settings, tmp_path, "a")),
        shared_keys.open_shared_keystore(other_instance(settings, tmp_path, "b")))
    assert await StoredKey.filter(name="master.check").count() == 1

    keys = [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2)]
    first.store("dkim-paraphe", keys[0])
    second.store("dkim-paraphe", keys[1])
    await asyncio.gather(shared_keys.share(first, "dkim-paraphe"),
                         shared_keys.share(second, "dkim-paraphe"))
    (row,) = await StoredKey.filter(name="dkim-paraphe.key")
    winner = first.load("dkim-paraphe").private_numbers()
    assert second.load("dkim-paraphe").private_numbers() == winner
    assert winner in [k.private_numbers() for k in keys]
    # The table holds the file as on disk: encrypted, never the key in clear.
    assert bytes(row.blob) == (tmp_path / "a" / "keys" / "dkim-paraphe.key").read_bytes()
    assert bytes(row.blob).startswith(b"PRPHK1")

    # A third instance, started later, finds it; deleting it deletes it for all.
    third = await shared_keys.open_shared_keystore(other_instance(settings, tmp_path, "c"))
    await shared_keys.fetch(third, "dkim-paraphe")
    assert third.load("dkim-paraphe").private_numbers() == winner
    await shared_keys.remove(third, "dkim-paraphe")
    assert not await StoredKey.filter(name="dkim-paraphe.key").exists()


@postgres_only
async def test_an_instance_with_another_master_key_fails_at_start(db, settings, tmp_path):
    await shared_keys.open_shared_keystore(other_instance(settings, tmp_path, "a"))
    wrong = other_instance(settings, tmp_path, "b",
                           master_key=SecretStr("another-master-key-entirely"))
    with pytest.raises(MasterKeyWrongError) as info:
        await shared_keys.open_shared_keystore(wrong)
    assert "PARAPHE_MASTER_KEY" in str(info.value)


@sqlite_only
async def test_sqlite_keeps_documents_and_keys_in_files(db, settings):
    assert settings.document_store == "files"
    svc = await make_services(settings, workers=1)
    try:
        assert type(svc.documents) is DocumentStore
        await seed(svc)
        result = await sealing.seal_document(svc, Actor.operator(), cabinet="dupre",
                                             filename="a.pdf", data=pdf("Fichier"))
        assert svc.documents.path(result.sha256).exists()
        assert svc.trust.keystore.table is None
        (cert,) = await Certificate.filter(kind="seal")
        assert (settings.home / "keys" / f"{cert.key_ref}.key").exists()
        assert not await DocumentChunk.exists() and not await StoredKey.exists()
    finally:
        svc.engine.close()


def test_the_document_store_follows_the_database(tmp_path):
    assert Settings(home=tmp_path).document_store == "files"
    pg = "postgres://postgres@127.0.0.1:5432/paraphe"
    assert Settings(home=tmp_path, database_url=pg).document_store == "postgres"
    assert Settings(home=tmp_path, database_url=pg,
                    document_store="files").document_store == "files"
    with pytest.raises(ValueError, match="PARAPHE_DOCUMENT_STORE=postgres needs"):
        Settings(home=tmp_path, document_store="postgres")


@postgres_only
async def test_the_dkim_key_made_on_one_instance_signs_on_every_one(db, settings, tmp_path):
    from mail_gateway import dkim_key
    from tests.cli import paraphe

    first, second = (other_instance(settings, tmp_path, name) for name in ("a", "b"))
    made = paraphe(first, "dkim", "keygen")
    assert made.code == 0, made.err
    # The second instance has no file of it, yet shows the same record and signs with it.
    assert not dkim_key.has_stored_key(second, "paraphe")
    shown = paraphe(second, "dkim", "show")
    assert shown.code == 0, shown.err
    assert shown.out == made.out
    await dkim_key.fetch_shared(second, "paraphe")
    assert dkim_key.signing_pem(second) == dkim_key.signing_pem(first)
    assert paraphe(second, "dkim", "keygen").code != 0  # it exists, for every instance
    # Replaced on purpose (--force) on one instance: the others take the new one.
    again = paraphe(second, "dkim", "keygen", "--force")
    assert again.code == 0, again.err
    await dkim_key.fetch_shared(first, "paraphe")
    assert dkim_key.signing_pem(first) == dkim_key.signing_pem(second)
    assert paraphe(first, "dkim", "show").out == again.out != made.out


@postgres_only
async def test_the_first_start_after_an_upgrade_shares_what_the_home_held(db, settings,
                                                                          tmp_path):
    from workflows.trust.keystore import SoftwareKeystore

    old = other_instance(settings, tmp_path, "a")
    # What an earlier version kept in files only: a key and a recorded document.
    SoftwareKeystore(old).generate("seal-ancien")
    files = DocumentStore(old.home / "documents")
    kept = await files.put(pdf("Ancien"))

    await shared_keys.open_shared_keystore(old)
    assert await SharedDocumentStore(old.home / "documents").publish_local() == 1

    new = other_instance(settings, tmp_path, "b")
    keystore = await shared_keys.open_shared_keystore(new)
    await shared_keys.fetch(keystore, "seal-ancien")
    assert keystore.load("seal-ancien").private_numbers() == \
        SoftwareKeystore(old).load("seal-ancien").private_numbers()
    reader = SharedDocumentStore(new.home / "documents")
    assert await reader.read(kept.sha256) == await files.read(kept.sha256)
    # Once chunks exist, a later start copies nothing again.
    assert await reader.publish_local() == 0


@postgres_only
async def test_an_identity_document_received_by_one_instance_is_read_and_erased_by_another(
        db, settings, tmp_path):
    """The registration review may happen on any instance, and the retention sweep runs on
    one: the encrypted document lives in the database, on no instance's disk."""
    from workflows.identity_vault import IdentityVault
    from workflows.models import IdentityBlob

    scan = os.urandom(64 * 1024)
    first, second = IdentityVault(settings), IdentityVault(other_instance(settings, tmp_path))
    ref = await first.store(scan)
    row = await IdentityBlob.get(ref=ref)
    assert scan[1000:1032] not in bytes(row.blob)  # encrypted at rest
    assert not list(first.directory.iterdir()) and not list(second.directory.iterdir())
    assert await second.load(ref) == scan
    await second.remove(ref)
    assert not await IdentityBlob.exists()
    with pytest.raises(FileNotFoundError):
        await first.load(ref)
    # Another master key does not open it.
    stranger = IdentityVault(other_instance(
        settings, tmp_path, "c", master_key=SecretStr("another-master-key-0000000000000")))
    ref = await first.store(scan)
    with pytest.raises(MasterKeyWrongError):
        await stranger.load(ref)
