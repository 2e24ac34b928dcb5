"""The append-only, hash-chained evidence log."""

from tortoise import fields
from tortoise.models import Model


class EvidenceEvent(Model):
    id = fields.BigIntField(primary_key=True)
    seq = fields.BigIntField(unique=True)
    at = fields.DatetimeField()
    kind = fields.CharField(max_length=64, db_index=True)
    channel = fields.CharField(max_length=16)
    cabinet_id = fields.IntField(null=True, db_index=True)
    person_id = fields.IntField(null=True)
    collection_id = fields.IntField(null=True, db_index=True)
    data = fields.JSONField()
    prev_hash = fields.CharField(max_length=64)
    hash = fields.CharField(max_length=64, unique=True)

    class Meta:
        table = "evidence_event"


class EvidenceHead(Model):
    # One row: the last sequence number and hash, locked by every append.

    id = fields.IntField(primary_key=True)
    seq = fields.BigIntField(default=0)
    hash = fields.CharField(max_length=64)

    class Meta:
        table = "evidence_head"


class EvidenceAnchor(Model):
    # The chain head at `seq` sealed with an RFC 3161 timestamp: the TSA's signature over
    # the head's hash vouches for the chain from outside the database.

    id = fields.BigIntField(primary_key=True)
    seq = fields.BigIntField(unique=True)
    hash = fields.CharField(max_length=64)
    token = fields.BinaryField()  # the timestamp token (DER ContentInfo)
    stamped_at = fields.DatetimeField()  # the token's genTime
    created_at = fields.DatetimeField()

    class Meta:
        table = "evidence_anchor"
