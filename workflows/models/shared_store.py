"""What several instances on one PostgreSQL share instead of their PARAPHE_HOME files:
documents in chunks and the software keystore's encrypted keys (SQLite keeps the files).
"""

from tortoise import fields
from tortoise.models import Model


class DocumentChunk(Model):
    """One slice (at most workflows.document_chunks.CHUNK_BYTES) of a stored document.

    Keyed by the document's SHA-256, not by its row: chunks are written before the
    transaction that records the Document, as files were, and are harmless when it fails.
    """

    id = fields.BigIntField(primary_key=True)
    sha256 = fields.CharField(max_length=64)
    seq = fields.IntField()
    data = fields.BinaryField()

    class Meta:
        table = "document_chunk"
        unique_together = (("sha256", "seq"),)


class StoredKey(Model):
    """A software keystore file as it is on disk, encrypted under the master key.

    AES-GCM with the key's name as associated data; never a key in clear. `name` is the
    file's name in PARAPHE_HOME/keys (`<key_ref>.key`, `master.check`)."""

    name = fields.CharField(max_length=140, primary_key=True)
    blob = fields.BinaryField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "stored_key"


class IdentityBlob(Model):
    """An identity document as the vault writes it: AES-256-GCM under the master key, bound
    to its reference; never in clear. Erased with the document at the end of its retention."""

    ref = fields.CharField(max_length=32, primary_key=True)
    blob = fields.BinaryField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "identity_blob"
