"""Cabinets (accounting firms), their tariffs and the terms their experts accepted."""

from tortoise import fields
from tortoise.models import Model


class Cabinet(Model):
    id = fields.IntField(primary_key=True)
    slug = fields.CharField(max_length=64, unique=True)
    name = fields.CharField(max_length=255)
    siren = fields.CharField(max_length=9, null=True)
    # Available prepaid credit; reservations are already taken out of it.
    credit_balance = fields.BigIntField(default=0)
    created_at = fields.DatetimeField()

    class Meta:
        table = "cabinet"


class Tariff(Model):
    # Price in credits of one operation; a row without cabinet is the platform default.

    id = fields.IntField(primary_key=True)
    cabinet = fields.ForeignKeyField("models.Cabinet", related_name="tariffs", null=True,
                                     on_delete=fields.CASCADE)
    operation = fields.CharField(max_length=16)  # seal | signature
    price = fields.IntField()

    class Meta:
        table = "tariff"
        unique_together = (("cabinet", "operation"),)


class TermsAcceptance(Model):
    id = fields.IntField(primary_key=True)
    cabinet = fields.ForeignKeyField("models.Cabinet", related_name="terms_acceptances",
                                     on_delete=fields.CASCADE)
    person = fields.ForeignKeyField("models.Person", related_name="terms_acceptances",
                                    on_delete=fields.CASCADE)
    version = fields.CharField(max_length=32)
    accepted_at = fields.DatetimeField()

    class Meta:
        table = "terms_acceptance"
        unique_together = (("cabinet", "version"),)
