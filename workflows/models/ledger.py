"""The prepaid credit ledger: a journal of entries and open reservations."""

from tortoise import fields
from tortoise.models import Model

ENTRY_KINDS = ("credit", "debit", "reserve", "capture", "release")


class LedgerEntry(Model):
    id = fields.IntField(primary_key=True)
    cabinet = fields.ForeignKeyField("models.Cabinet", related_name="ledger",
                                     on_delete=fields.RESTRICT)
    kind = fields.CharField(max_length=16)
    # Signed change of the available balance (credit +, debit and reserve −, release +).
    amount = fields.BigIntField()
    balance_after = fields.BigIntField()
    operation = fields.CharField(max_length=32, default="")
    reference = fields.CharField(max_length=128, default="")
    reservation = fields.ForeignKeyField("models.Reservation", related_name="entries",
                                         null=True, on_delete=fields.SET_NULL)
    at = fields.DatetimeField()

    class Meta:
        table = "ledger_entry"
        indexes = (("cabinet_id", "at"),)


class Reservation(Model):
    id = fields.IntField(primary_key=True)
    cabinet = fields.ForeignKeyField("models.Cabinet", related_name="reservations",
                                     on_delete=fields.RESTRICT)
    amount = fields.BigIntField()
    # What is still held: captures take from it, the release gives it back.
    remaining = fields.BigIntField()
    state = fields.CharField(max_length=16, default="open")  # open | closed
    reference = fields.CharField(max_length=128, default="")
    created_at = fields.DatetimeField()
    closed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "reservation"
        indexes = (("cabinet_id", "state"),)
