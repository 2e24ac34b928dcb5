"""Signature collections (collectes), their documents and their signers."""

from tortoise import fields
from tortoise.models import Model

STATES = ("draft", "awaiting_approval", "in_progress", "completed", "declined", "expired",
          "cancelled")
ENDED = ("completed", "declined", "expired", "cancelled")
SIGNER_STATES = ("pending", "signed", "declined")


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
    ended_at = fields.DatetimeField(null=True)

    class Meta:
        table = "collection"


class CollectionDocument(Model):
    id = fields.IntField(primary_key=True)
    collection = fields.ForeignKeyField("models.Collection", related_name="documents",
                                        on_delete=fields.CASCADE)
    position = fields.IntField()
    original = fields.ForeignKeyField("models.Document", related_name=False,
                                      on_delete=fields.RESTRICT)
    # The latest signed state of the document; null until the first signature.
    current = fields.ForeignKeyField("models.Document", related_name=False, null=True,
                                     on_delete=fields.RESTRICT)

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

    class Meta:
        table = "signer"
        unique_together = (("collection", "position"),)
