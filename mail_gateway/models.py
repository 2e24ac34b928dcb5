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


SPOOL_STATES = ("pending", "quarantined")


class SpooledMail(Model):
    """Accepted mail not yet answered, in PostgreSQL (PARAPHE_DOCUMENT_STORE=postgres), so any
    instance of the fleet finishes what another accepted (mail_gateway.spool_db).

    One row per message and recipient, committed before the 250. A worker claims a row by
    setting its lease (holder and expiry); a row whose lease expired is anyone's again, so a
    killed instance loses nothing. A failure writes the next try (`not_before`, `attempts`)
    here, so whichever instance takes it next honours it. The row is deleted once its answer
    is recorded (the InboundMessage row), or kept as "quarantined" with its reason."""

    id = fields.BigIntField(primary_key=True)
    # The id `paraphe spool` shows: `<time ns>-<random>`, as the file spool names its files.
    name = fields.CharField(max_length=64, unique=True)
    envelope = fields.JSONField()
    # The message as received (the column is `raw`; tortoise reserves the attribute name).
    message = fields.BinaryField(source_field="raw")
    state = fields.CharField(max_length=16, default="pending")
    reason = fields.JSONField(null=True)
    attempts = fields.IntField(default=0)
    not_before = fields.DatetimeField()
    lease_holder = fields.CharField(max_length=191, null=True, db_index=True)
    lease_until = fields.DatetimeField(null=True)
    # When it was accepted, or released from quarantine by an operator: its age for the
    # deadline and for /metrics.
    received_at = fields.DatetimeField()

    class Meta:
        table = "spooled_mail"
        # The claim (pending, due, oldest first) and the oldest-unanswered gauge each read
        # one index, never the table.
        indexes = (("state", "not_before", "id"), ("state", "received_at"))
