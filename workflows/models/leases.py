"""Leases: which instance of the fleet does a periodic job this period (workflows.leases)."""

from tortoise import fields
from tortoise.models import Model


class Lease(Model):
    """One named job's holder until `expires_at`, when another instance may take it."""

    name = fields.CharField(max_length=100, primary_key=True)
    holder = fields.CharField(max_length=200)
    expires_at = fields.DatetimeField()

    class Meta:
        table = "lease"
