"""Certificates issued by the platform's trust service, and their revocation."""

from tortoise import fields
from tortoise.models import Model

KINDS = ("root", "issuing", "tsa", "ocsp", "seal", "personal", "one_time")


class Certificate(Model):
    id = fields.IntField(primary_key=True)
    serial = fields.CharField(max_length=64, unique=True)  # hex
    kind = fields.CharField(max_length=16)
    # Fixed name of a platform certificate (root, seal-ca, tsa...); it names its /ca/ URLs and
    # its uniqueness lets two processes starting at once agree on one PKI.
    name = fields.CharField(max_length=64, null=True, unique=True)
    subject = fields.CharField(max_length=512)
    issuer = fields.ForeignKeyField("models.Certificate", related_name="issued", null=True,
                                    on_delete=fields.RESTRICT)
    person = fields.ForeignKeyField("models.Person", related_name="certificates", null=True,
                                    on_delete=fields.SET_NULL)
    cabinet = fields.ForeignKeyField("models.Cabinet", related_name="certificates", null=True,
                                     on_delete=fields.SET_NULL)
    der = fields.BinaryField()
    # Name of the private key in the keystore (software file or PKCS#11 label).
    key_ref = fields.CharField(max_length=128, null=True)
    not_before = fields.DatetimeField()
    not_after = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)
    revocation_reason = fields.CharField(max_length=64, null=True)
    # Number of the last CRL this CA issued (RFC 5280 cRLNumber), bumped atomically.
    crl_number = fields.BigIntField(default=0)
    created_at = fields.DatetimeField()

    class Meta:
        table = "certificate"
        # The seal certificate of a cabinet and a person's certificate are looked up at every
        # seal and signature; one-time certificates make this table the largest.
        indexes = (("cabinet_id", "kind"), ("person_id", "kind"))
