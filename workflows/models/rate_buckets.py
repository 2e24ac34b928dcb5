"""Token buckets shared by the instances on one PostgreSQL (workflows.rate_buckets)."""

from tortoise import fields
from tortoise.models import Model


class RateBucket(Model):
    """The tokens left in one key's bucket when it was last taken from, at `updated_at`."""

    key = fields.CharField(max_length=100, primary_key=True)
    tokens = fields.FloatField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "rate_bucket"
