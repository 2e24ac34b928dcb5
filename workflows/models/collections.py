"""Signature collections (collectes), their documents and their signers."""

from tortoise import fields
from tortoise.models import Model

STATES = ("draft", "awaiting_approval", "in_progress", "completed", "declined", "expired",
          "cancelled")
ENDED = ("completed", "declined", "expired", "cancelled")
SIGNER_STATES = ("pending", "signed", "declined")
CODE_STATES = ("active", "used", "locked", "replaced")


class Collection(Model):
    id = fields.IntField(primary_key=True)
    cabinet = fields.ForeignKeyField("models.Cabinet", related_name="collections",
                                     on_delete=fields.RESTRICT)
    created_by = fields.ForeignKeyField("models.Person", related_name="collections_created",
                                        on_delete=fields.RESTRICT)
    state = fields.CharField(max_length=24, default="draft", db_index=True)
    ordered = fields.BooleanField(default=False)
    title = fields.CharField(max_length=255, default="")
    message = fields.TextField(default="")
    channel = fields.CharField(max_length=16, default="web")
    expiry_days = fields.IntField(default=15)
    approved_by = fields.ForeignKeyField("models.Person", related_name=False, null=True,
                                         on_delete=fields.SET_NULL)
    rejection_reason = fields.TextField(null=True)
    reservation = fields.ForeignKeyField("models.Reservation", related_name=False, null=True,
                                         on_delete=fields.SET_NULL)
    created_at = fields.DatetimeField()
    launched_at = fields.DatetimeField(null=True)
    expires_at = fields.DatetimeField(null=True, db_index=True)
    # Set by the sweep that warns the initiator and the experts before the deadline (once).
    expiry_warned_at = fields.DatetimeField(null=True)
    ended_at = fields.DatetimeField(null=True)
    rejected_by = fields.ForeignKeyField("models.Person", related_name=False, null=True,
                                         on_delete=fields.SET_NULL)
    # Set once the completed documents carry their document timestamp and the sealed
    # evidence report is stored and mailed; a sweep finishes what a crash left undone.
    finalized_at = fields.DatetimeField(null=True)
    report_json = fields.ForeignKeyField("models.Document", related_name=False, null=True,
                                         on_delete=fields.SET_NULL)
    report_pdf = fields.ForeignKeyField("models.Document", related_name=False, null=True,
                                        on_delete=fields.SET_NULL)

    class Meta:
        table = "collection"
        indexes = (("cabinet_id", "state"),)


class CollectionDocument(Model):
    id = fields.IntField(primary_key=True)
    collection = fields.ForeignKeyField("models.Collection", related_name="documents",
                                        on_delete=fields.CASCADE)
    position = fields.IntField()
    # The name this cabinet gave the file in this collection (its bytes may be shared).
    filename = fields.CharField(max_length=255)
    original = fields.ForeignKeyField("models.Document", related_name=False,
                                      on_delete=fields.RESTRICT)
    # The latest signed state of the document; null until the first signature.
    current = fields.ForeignKeyField("models.Document", related_name=False, null=True,
                                     on_delete=fields.RESTRICT)
    # Bumped with every signature: a signature commits only over the version it started from,
    # so two signers signing at once never overwrite each other.
    version = fields.IntField(default=0)

    class Meta:
        table = "collection_document"
        unique_together = (("collection", "position"),)


class Signer(Model):
    id = fields.IntField(primary_key=True)
    collection = fields.ForeignKeyField("models.Collection", related_name="signers",
                                        on_delete=fields.CASCADE)
    position = fields.IntField()
    name = fields.CharField(max_length=255)
    email = fields.CharField(max_length=254)
    phone = fields.CharField(max_length=32, null=True)
    language = fields.CharField(max_length=2, default="fr")
    # Set for internal signers (an expert or collaborator signing with their own certificate).
    person = fields.ForeignKeyField("models.Person", related_name="signatures", null=True,
                                    on_delete=fields.SET_NULL)
    state = fields.CharField(max_length=16, default="pending")
    token_hash = fields.CharField(max_length=64, null=True, unique=True)
    signed_at = fields.DatetimeField(null=True)
    declined_at = fields.DatetimeField(null=True)
    decline_reason = fields.TextField(null=True)
    reminders_sent = fields.IntField(default=0)
    last_reminded_at = fields.DatetimeField(null=True)
    # When the signer was asked to sign (at launch, or when their turn came in a set order).
    notified_at = fields.DatetimeField(null=True)
    last_warning_at = fields.DatetimeField(null=True)
    # When the signer first opened their page (the evidence log has the event, with the IP).
    opened_at = fields.DatetimeField(null=True)
    certificate_serial = fields.CharField(max_length=64, null=True)
    # Set when the signer's invitation or reminder could not be delivered (bounce, relay 5xx,
    # SMS refused); cleared when a later one is delivered or the address is changed.
    delivery_failed_at = fields.DatetimeField(null=True)
    delivery_failure = fields.TextField(null=True)

    class Meta:
        table = "signer"
        unique_together = (("collection", "position"),)
        indexes = (("person_id", "state"),)


class SignerCode(Model):
    # A one-time code sent to a signer; only a salted hash of it is stored.
    id = fields.IntField(primary_key=True)
    signer = fields.ForeignKeyField("models.Signer", related_name="codes",
                                    on_delete=fields.CASCADE)
    channel = fields.CharField(max_length=8)  # mail | sms
    salt = fields.CharField(max_length=32)
    digest = fields.CharField(max_length=64)
    # SHA-256 over the hashes of the documents the code lets the signer sign.
    documents_hash = fields.CharField(max_length=64)
    state = fields.CharField(max_length=12, default="active", db_index=True)
    attempts = fields.IntField(default=0)
    created_at = fields.DatetimeField(db_index=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    # The mail that carried it (its code is blanked once the code is dead).
    notification_id = fields.IntField(null=True)

    class Meta:
        table = "signer_code"
        # Every code sent, checked or scrubbed looks up the signer's codes.
        indexes = (("signer_id", "state"),)
