"""PDF documents, stored once by SHA-256 under PARAPHE_HOME/documents."""

from tortoise import fields
from tortoise.models import Model


class Document(Model):
    id = fields.IntField(primary_key=True)
    sha256 = fields.CharField(max_length=64, unique=True)
    size = fields.BigIntField()
    filename = fields.CharField(max_length=255)
    created_at = fields.DatetimeField()

    class Meta:
        table = "document"
