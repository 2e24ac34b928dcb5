"""Several instances on one database: accepted mail spooled in PostgreSQL (spooled_mail), and
who holds a notification's claim (notification.claimed_by)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0012_identity_blobs')]

    initial = False

    operations = [
        ops.CreateModel(
            name='SpooledMail',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=64)),
                ('envelope', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('message', fields.BinaryField(source_field='raw')),
                ('state', fields.CharField(default='pending', max_length=16)),
                ('reason', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('attempts', fields.IntField(default=0)),
                ('not_before', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('lease_holder', fields.CharField(null=True, db_index=True, max_length=191)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'spooled_mail', 'app': 'models', 'indexes': [Index(fields=['state', 'not_before', 'id']), Index(fields=['state', 'received_at'])], 'pk_attr': 'id', 'table_description': 'Accepted mail not yet answered, in PostgreSQL (PARAPHE_DOCUMENT_STORE=postgres), so any'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Notification',
            name='claimed_by',
            field=fields.CharField(null=True, max_length=191),
        ),
    ]
