"""A person's registration (identity check before their personal certificate), its
identity documents (stored encrypted) and the one-time codes of its mobile and of a
certificate revocation."""

from tortoise import fields
from tortoise.models import Model

STATES = ("in_progress", "submitted", "approved", "refused")
DOCUMENT_TYPES = ("id_card", "passport", "driving_licence")
SIDES = ("front", "back")
CODE_PURPOSES = ("mobile", "revocation")
CODE_STATES = ("active", "used", "locked", "replaced")


class Registration(Model):
    id = fields.IntField(primary_key=True)
    person = fields.ForeignKeyField("models.Person", related_name="registrations",
                                    on_delete=fields.CASCADE)
    state = fields.CharField(max_length=16, default="in_progress", db_index=True)
    # What the person confirmed of the data the platform holds (name, e-mail, cabinets).
    identity_confirmed_at = fields.DatetimeField(null=True)
    identity_snapshot = fields.JSONField(null=True)
    phone = fields.CharField(max_length=32, null=True, db_index=True)
    phone_verified_at = fields.DatetimeField(null=True)
    document_type = fields.CharField(max_length=16, null=True)  # id_card | passport | ...
    agreement_signed_at = fields.DatetimeField(null=True)
    agreement_sha256 = fields.CharField(max_length=64, null=True)
    terms_accepted_at = fields.DatetimeField(null=True)  # CGU
    privacy_accepted_at = fields.DatetimeField(null=True)  # data-protection policy
    submitted_at = fields.DatetimeField(null=True)
    reviewed_by = fields.ForeignKeyField("models.Person", related_name=False, null=True,
                                         on_delete=fields.SET_NULL)
    reviewed_at = fields.DatetimeField(null=True)
    refusal_reason = fields.TextField(null=True)
    # The personal certificate issued on approval.
    certificate = fields.ForeignKeyField("models.Certificate", related_name=False, null=True,
                                         on_delete=fields.SET_NULL)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "registration"


class IdentityDocument(Model):
    id = fields.IntField(primary_key=True)
    registration = fields.ForeignKeyField("models.Registration", related_name="documents",
                                          on_delete=fields.CASCADE)
    side = fields.CharField(max_length=8)  # front | back
    content_type = fields.CharField(max_length=64)
    size = fields.IntField()
    sha256 = fields.CharField(max_length=64)
    # Name of the encrypted file under <home>/identity; the bytes never enter the database.
    storage_ref = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField()
    # Set when the file is erased (replaced by a new upload, or at the end of retention).
    deleted_at = fields.DatetimeField(null=True, db_index=True)

    class Meta:
        table = "identity_document"


class PersonCode(Model):
    id = fields.IntField(primary_key=True)
    person = fields.ForeignKeyField("models.Person", related_name="codes",
                                    on_delete=fields.CASCADE)
    purpose = fields.CharField(max_length=16)  # mobile | revocation
    channel = fields.CharField(max_length=8)  # sms | mail
    salt = fields.CharField(max_length=32)
    digest = fields.CharField(max_length=64)
    # What the code is for: the mobile number, or the serial of the certificate to revoke.
    bound_to = fields.CharField(max_length=128)
    state = fields.CharField(max_length=16, default="active")
    attempts = fields.IntField(default=0)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "person_code"


class RegistrationLink(Model):
    # A personal link to the registration web page (/r/<token>): only the token's SHA-256
    # is kept, and the link stops working at expires_at.
    id = fields.IntField(primary_key=True)
    person = fields.ForeignKeyField("models.Person", related_name="registration_links",
                                    on_delete=fields.CASCADE)
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()

    class Meta:
        table = "registration_link"
