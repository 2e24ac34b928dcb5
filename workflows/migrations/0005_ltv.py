from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0004_docs_codes')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Document',
            name='archive_until',
            field=fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Document',
            name='renewed_by',
            field=fields.ForeignKeyField('models.Document', source_field='renewed_by_id', null=True, db_constraint=True, to_field='id', related_name='renews', on_delete=OnDelete.SET_NULL),
        ),
    ]
