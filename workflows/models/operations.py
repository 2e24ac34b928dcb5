"""Idempotency records: a billed operation done once per key, whatever the channel retries."""

from tortoise import fields
from tortoise.models import Model


class Operation(Model):
    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=191, unique=True)
    kind = fields.CharField(max_length=32)
    cabinet = fields.ForeignKeyField("models.Cabinet", related_name=False,
                                     on_delete=fields.RESTRICT)
    result = fields.JSONField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "operation"
