"""Several instances on one database: the encrypted identity documents of registrations."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0011_shared_store')]

    initial = False

    operations = [
        ops.CreateModel(
            name='IdentityBlob',
            fields=[
                ('ref', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32)),
                ('blob', fields.BinaryField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'identity_blob', 'app': 'models', 'pk_attr': 'ref', 'table_description': 'An identity document as the vault writes it: AES-256-GCM under the master key, bound'},
            bases=['Model'],
        ),
    ]
