"""API keys of the REST API, and the answers kept for Idempotency-Key replays."""

from tortoise import fields
from tortoise.models import Model

SCOPES = ("seal", "collect", "read")


class ApiKey(Model):
    # A key acts for one person in one cabinet, within its scopes; only a hash of it is kept.

    id = fields.IntField(primary_key=True)
    cabinet = fields.ForeignKeyField("models.Cabinet", related_name="api_keys",
                                     on_delete=fields.CASCADE)
    person = fields.ForeignKeyField("models.Person", related_name="api_keys",
                                    on_delete=fields.CASCADE)
    name = fields.CharField(max_length=255)
    # Public part of the key (``pk_<prefix>_…``): finds the row without scanning hashes.
    prefix = fields.CharField(max_length=16, unique=True)
    key_hash = fields.CharField(max_length=64)
    scopes = fields.JSONField(default=list)
    created_at = fields.DatetimeField()
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_key"


class ApiIdempotency(Model):
    # The first answer to a POST made with an Idempotency-Key, replayed for the same key and
    # body. A row without status is a request still running.

    id = fields.IntField(primary_key=True)
    api_key = fields.ForeignKeyField("models.ApiKey", related_name="idempotency",
                                     on_delete=fields.CASCADE)
    key = fields.CharField(max_length=191)
    method = fields.CharField(max_length=8)
    path = fields.CharField(max_length=512)
    request_sha256 = fields.CharField(max_length=64)
    status = fields.IntField(null=True)
    content_type = fields.CharField(max_length=128, default="application/json")
    # JSON answers are kept as text; PDF answers by their document's SHA-256 in the store.
    body = fields.TextField(default="")
    document_sha256 = fields.CharField(max_length=64, null=True)
    headers = fields.JSONField(default=dict)
    created_at = fields.DatetimeField()
    # The claim of a running request is a lease: the process holding it (host:pid:token)
    # and until when; an expired lease, or one whose process is gone, may be taken over.
    holder = fields.CharField(max_length=128, null=True)
    claimed_until = fields.DatetimeField(null=True)

    class Meta:
        table = "api_idempotency"
        unique_together = (("api_key", "key"),)
