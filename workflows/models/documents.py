"""Stored files (blobs), once by SHA-256 under PARAPHE_HOME/documents.

A blob has no name: the same bytes may be uploaded by two cabinets, or twice by one, under
different names. Names belong to what uploaded them (`CollectionDocument.filename`, a seal's
answer), so nothing about one cabinet's documents shows through another's.
"""

from tortoise import fields
from tortoise.models import Model


class Document(Model):
    id = fields.IntField(primary_key=True)
    sha256 = fields.CharField(max_length=64, unique=True)
    size = fields.BigIntField()
    created_at = fields.DatetimeField()
    # A signed output whose newest archive timestamp (PAdES B-LTA) holds until its TSA
    # certificate expires, then: the archive sweep renews it before (workflows.archive).
    archive_until = fields.DatetimeField(null=True, db_index=True)
    # The newer version with a fresh archive timestamp; this one is kept as it was.
    renewed_by = fields.ForeignKeyField("models.Document", related_name="renews", null=True,
                                        on_delete=fields.SET_NULL)

    class Meta:
        table = "document"
