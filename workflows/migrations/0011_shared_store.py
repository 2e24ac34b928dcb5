"""Several instances on one database: documents in chunks and the software keystore's
encrypted keys, shared in the database."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0010_fleet')]

    initial = False

    operations = [
        ops.CreateModel(
            name='DocumentChunk',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('sha256', fields.CharField(max_length=64)),
                ('seq', fields.IntField()),
                ('data', fields.BinaryField()),
            ],
            options={'table': 'document_chunk', 'app': 'models', 'unique_together': (('sha256', 'seq'),), 'pk_attr': 'id', 'table_description': 'One slice (at most workflows.document_chunks.CHUNK_BYTES) of a stored document.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StoredKey',
            fields=[
                ('name', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=140)),
                ('blob', fields.BinaryField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'stored_key', 'app': 'models', 'pk_attr': 'name', 'table_description': 'A software keystore file as it is on disk, encrypted under the master key.'},
            bases=['Model'],
        ),
    ]
