"""Webhook endpoints of a cabinet, the events sent to them and the log of each delivery attempt."""

from tortoise import fields
from tortoise.models import Model


class WebhookEndpoint(Model):
    id = fields.IntField(primary_key=True)
    cabinet = fields.ForeignKeyField("models.Cabinet", related_name="webhook_endpoints",
                                     on_delete=fields.CASCADE)
    url = fields.CharField(max_length=2000)
    # Event type patterns ("seal.*", "collection.completed"); empty means every event.
    events = fields.JSONField(default=list)
    # The HMAC key must be usable to sign, so it cannot be a hash: it is shown once at
    # creation and kept sealed (AES-GCM, workflows.webhook_secrets).
    secret = fields.CharField(max_length=128)
    created_at = fields.DatetimeField()
    removed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "webhook_endpoint"


class WebhookEvent(Model):
    # One event per evidence-log entry worth telling (seals, collection and signer
    # transitions); `evidence_seq` makes turning the log into events idempotent.

    id = fields.IntField(primary_key=True)
    event_id = fields.CharField(max_length=64, unique=True)
    evidence_seq = fields.BigIntField(unique=True)
    cabinet = fields.ForeignKeyField("models.Cabinet", related_name="webhook_events",
                                     on_delete=fields.CASCADE)
    type = fields.CharField(max_length=64)
    payload = fields.JSONField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "webhook_event"


class WebhookCursor(Model):
    # One row: the last evidence sequence number turned into webhook events.

    id = fields.IntField(primary_key=True)
    seq = fields.BigIntField(default=0)

    class Meta:
        table = "webhook_cursor"


class WebhookDelivery(Model):
    # One attempt to deliver one event to one endpoint: the delivery log.

    id = fields.IntField(primary_key=True)
    endpoint = fields.ForeignKeyField("models.WebhookEndpoint", related_name="deliveries",
                                      on_delete=fields.CASCADE)
    event = fields.ForeignKeyField("models.WebhookEvent", related_name="deliveries",
                                   on_delete=fields.CASCADE)
    attempt = fields.IntField()
    status_code = fields.IntField(null=True)
    ok = fields.BooleanField(default=False)
    error = fields.TextField(null=True)
    duration_ms = fields.IntField(default=0)
    # What comes next: "retry at …", "delivered" or "gave up".
    outcome = fields.CharField(max_length=16)
    at = fields.DatetimeField()

    class Meta:
        table = "webhook_delivery"
