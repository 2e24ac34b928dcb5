"""People, their memberships of cabinets and the delegations collaborators hold."""

from tortoise import fields
from tortoise.models import Model

ROLES = ("expert", "collaborator")
ACTIONS = ("sign", "seal", "prepare", "launch")


class Person(Model):
    id = fields.IntField(primary_key=True)
    email = fields.CharField(max_length=254, unique=True)
    name = fields.CharField(max_length=255)
    phone = fields.CharField(max_length=32, null=True)
    language = fields.CharField(max_length=2, default="fr")
    is_operator = fields.BooleanField(default=False)
    # The mail-in address (seal+<secret>@…) is derived from the platform key, this id and
    # this generation (workflows.mail_in): the database holds no secret. A new generation
    # gives a new address and ends the old one.
    mail_secret_generation = fields.IntField(default=1, db_default=1)
    # SHA-256 of a secret stored in clear before addresses were derived: it keeps working.
    legacy_mail_secret_sha256 = fields.CharField(max_length=64, unique=True, null=True)
    telegram_link_code = fields.CharField(max_length=64, unique=True, null=True)
    telegram_link_expires_at = fields.DatetimeField(null=True)
    telegram_user_id = fields.BigIntField(unique=True, null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "person"


class Membership(Model):
    id = fields.IntField(primary_key=True)
    person = fields.ForeignKeyField("models.Person", related_name="memberships",
                                    on_delete=fields.CASCADE)
    cabinet = fields.ForeignKeyField("models.Cabinet", related_name="memberships",
                                     on_delete=fields.CASCADE)
    role = fields.CharField(max_length=16)  # expert | collaborator
    created_at = fields.DatetimeField()

    class Meta:
        table = "membership"
        unique_together = (("person", "cabinet"),)


class Delegation(Model):
    id = fields.IntField(primary_key=True)
    membership = fields.ForeignKeyField("models.Membership", related_name="delegations",
                                        on_delete=fields.CASCADE)
    action = fields.CharField(max_length=16)  # sign | seal | prepare | launch
    granted_by = fields.ForeignKeyField("models.Person", related_name=False, null=True,
                                        on_delete=fields.SET_NULL)
    granted_at = fields.DatetimeField()

    class Meta:
        table = "delegation"
        unique_together = (("membership", "action"),)
