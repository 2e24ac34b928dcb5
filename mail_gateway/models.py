"""Mail accepted by the gateway: one row per message, the key of exactly-once processing.

The gateway's own table, in the tortoise app of the core's models (paraphe.db lists this
module), so its foreign key reaches `models.Person` and the migrations stay one history."""

from tortoise import fields
from tortoise.models import Model

STATES = ("received", "done")


class InboundMessage(Model):
    # One accepted mail per (Message-ID, content SHA-256, command address). The gateway may
    # see the same mail twice (a redelivery, a restart after a crash); the second finds this
    # row and does nothing.

    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=64, unique=True)
    message_id = fields.CharField(max_length=255, null=True, db_index=True)
    content_sha256 = fields.CharField(max_length=64)
    command = fields.CharField(max_length=16)  # seal | verify | help
    sender = fields.CharField(max_length=254)
    person = fields.ForeignKeyField("models.Person", related_name="inbound_messages", null=True,
                                    on_delete=fields.SET_NULL)
    # How the sender was authenticated, e.g. {"method": "dkim", "domain": "example.com"}.
    auth = fields.JSONField(default=dict)
    state = fields.CharField(max_length=16, default="received", db_index=True)
    attempts = fields.IntField(default=0)
    # What came of it: the reply's template, the files sealed or refused.
    outcome = fields.JSONField(default=dict)
    received_at = fields.DatetimeField()
    done_at = fields.DatetimeField(null=True)

    class Meta:
        table = "inbound_message"
