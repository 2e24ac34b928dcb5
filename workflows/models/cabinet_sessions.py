"""Sessions of the cabinet space (/c/): kept server-side so that a person can list theirs and
end any of them, and so that signing out ends one at once whatever the browser keeps."""

from tortoise import fields
from tortoise.models import Model


class CabinetSession(Model):
    id = fields.IntField(primary_key=True)
    person = fields.ForeignKeyField("models.Person", related_name="cabinet_sessions",
                                    on_delete=fields.CASCADE)
    # SHA-256 of the cookie's token (secrets.token_urlsafe(32)): the token is never stored.
    token_hash = fields.CharField(max_length=64, unique=True)
    # The secret the session's forms carry (CSRF), compared in constant time on each POST.
    csrf_secret = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()
    last_seen_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    user_agent = fields.CharField(max_length=200, default="")
    ip = fields.CharField(max_length=64, null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "cabinet_session"
