"""Delivery outcomes: which signer a message is about, the provider's id and report, the
failure's reason; a signer whose invitation could not be delivered.

AddField creates no index for `db_index=True`, so the two look-ups it is for (a delivery
report by provider id, a signer's messages) get theirs by SQL. On SQLite, rebuilding the
signer table (0007 dropped a column) lost its (person_id, state) index: made again under
the name PostgreSQL kept."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0007_archive_backfill')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Notification',
            name='delivery_status',
            field=fields.CharField(null=True, max_length=16),
        ),
        ops.AddField(
            model_name='Notification',
            name='failure_reason',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='Notification',
            name='provider_ref',
            field=fields.CharField(null=True, db_index=True, max_length=128),
        ),
        ops.AddField(
            model_name='Notification',
            name='reported_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Notification',
            name='signer',
            field=fields.ForeignKeyField('models.Signer', source_field='signer_id', null=True, db_constraint=True, to_field='id', related_name='notifications', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Signer',
            name='delivery_failed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Signer',
            name='delivery_failure',
            field=fields.TextField(null=True, unique=False),
        ),
        ops.RunSQL(
            [
                "CREATE INDEX IF NOT EXISTS idx_notification_provider_ref"
                " ON notification (provider_ref)",
                "CREATE INDEX IF NOT EXISTS idx_notification_signer ON notification (signer_id)",
                "CREATE INDEX IF NOT EXISTS idx_signer_person__ae531f ON signer (person_id, state)",
            ],
            reverse_sql=["DROP INDEX IF EXISTS idx_notification_provider_ref",
                         "DROP INDEX IF EXISTS idx_notification_signer"],
        ),
    ]
