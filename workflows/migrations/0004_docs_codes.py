"""Document names move from the shared blob to the collection document that named it;
Idempotency-Key claims become leases (holder, claimed_until)."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class DropColumn(ops.RemoveField):
    """RemoveField by ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35, PostgreSQL): tortoise's
    SQLite editor rebuilds the table instead, and dropping `document`, which other tables
    reference, fails under foreign keys."""

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):
        if state_editor:
            model = old_state.apps.get_model(f"{app_label}.{self.model_name}")
            await state_editor.client.execute_script(
                f'ALTER TABLE "{model._meta.db_table}" DROP COLUMN "{self.name}"')


class Migration(migrations.Migration):
    dependencies = [('models', '0003_evidence_report')]

    initial = False

    operations = [
        # Added empty for the rows already there, filled from the blob's old name (the
        # only one they had), then required like the model says.
        ops.AddField(
            model_name='CollectionDocument',
            name='filename',
            field=fields.CharField(max_length=255, null=True),
        ),
        ops.RunSQL(
            "UPDATE collection_document SET filename = (SELECT d.filename FROM document d"
            " WHERE d.id = collection_document.original_id)",
            reverse_sql="",
        ),
        ops.AlterField(
            model_name='CollectionDocument',
            name='filename',
            field=fields.CharField(max_length=255),
        ),
        DropColumn(model_name='Document', name='filename'),
        ops.AddField(
            model_name='ApiIdempotency',
            name='claimed_until',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='ApiIdempotency',
            name='holder',
            field=fields.CharField(null=True, max_length=128),
        ),
    ]
