"""Outgoing notifications: intentions recorded by the core, delivered by a worker."""

from tortoise import fields
from tortoise.models import Model

STATES = ("pending", "sending", "sent", "failed")


class Notification(Model):
    id = fields.IntField(primary_key=True)
    channel = fields.CharField(max_length=16)  # mail | telegram | sms | webhook
    template = fields.CharField(max_length=128)  # e.g. "seal/sealed"
    language = fields.CharField(max_length=2, default="fr")
    recipient = fields.CharField(max_length=254)
    person = fields.ForeignKeyField("models.Person", related_name="notifications", null=True,
                                    on_delete=fields.SET_NULL)
    context = fields.JSONField(default=dict)
    # Documents to attach: [{"sha256": …, "filename": …}].
    attachments = fields.JSONField(default=list)
    # Threading for mail replies: {"in_reply_to": …, "references": …, "subject": …}.
    thread = fields.JSONField(default=dict)
    dedup_key = fields.CharField(max_length=191, unique=True, null=True)
    state = fields.CharField(max_length=16, default="pending", db_index=True)
    attempts = fields.IntField(default=0)
    # Who holds the claim while it is "sending" (workflows.holders): a restarted process
    # takes back at start only the claims of its dead predecessor on the same host and home.
    claimed_by = fields.CharField(max_length=191, null=True)
    next_attempt_at = fields.DatetimeField(db_index=True)
    sent_at = fields.DatetimeField(null=True)
    last_error = fields.TextField(null=True)
    message_id = fields.CharField(max_length=255, null=True)
    created_at = fields.DatetimeField()
    # The signer a message is about (invitation, reminder, code): a bounce marks them.
    signer = fields.ForeignKeyField("models.Signer", related_name="notifications", null=True,
                                    on_delete=fields.SET_NULL)
    # The provider's own id of a sent message (an SMS gateway's), to match its delivery report.
    provider_ref = fields.CharField(max_length=128, null=True, db_index=True)
    # What the far end said after sending: "delivered" or "failed" (a DSN, a delivery receipt).
    delivery_status = fields.CharField(max_length=16, null=True)
    reported_at = fields.DatetimeField(null=True)
    # Why it failed, as a short code counted by /metrics ("mailbox_unknown", "relay_refused",
    # "sms_undeliverable", …); last_error keeps the far end's words.
    failure_reason = fields.CharField(max_length=64, null=True)

    class Meta:
        table = "notification"
