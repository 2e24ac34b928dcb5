"""Mail-in secrets leave the database: the clear secrets become SHA-256 (their addresses keep
working) and new addresses are derived from the platform key (workflows.mail_in)."""

import hashlib

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


async def hash_clear_secrets(apps, schema_editor) -> None:
    client = schema_editor.client
    mark = "$1" if client.capabilities.dialect == "postgres" else "?"
    _, rows = await client.execute_query("SELECT id, mail_secret FROM person")
    for row in rows:
        digest = hashlib.sha256(row[1].encode()).hexdigest()
        await client.execute_query(
            f"UPDATE person SET legacy_mail_secret_sha256 = {mark} WHERE id = {int(row[0])}",
            [digest])


async def keep_hashes(apps, schema_editor) -> None:
    """Going back cannot restore clear secrets (only their hashes were kept): a no-op, so that
    a database can be taken back to an earlier state for tests and repairs."""


class Migration(migrations.Migration):
    dependencies = [('models', '0005_ltv')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Person',
            name='legacy_mail_secret_sha256',
            field=fields.CharField(null=True, unique=True, max_length=64),
        ),
        ops.AddField(
            model_name='Person',
            name='mail_secret_generation',
            field=fields.IntField(default=1, db_default=1),
        ),
        ops.RunPython(hash_clear_secrets, reverse_code=keep_hashes),
        ops.RemoveField(model_name='Person', name='mail_secret'),
    ]
