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

    class Meta:
        table = "document"
