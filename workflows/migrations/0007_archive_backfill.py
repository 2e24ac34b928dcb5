"""Outputs stored before 0005 (B-LT seals, completed documents and evidence reports) have no
`archive_until`, so the archive sweep never saw them. They are marked due now: the next sweep
adds fresh validation data and a document timestamp to each (B-LTA), as a new version, and
records the renewal in the evidence log. Documents that are not outputs (uploads, a
collection's versions before it completed) stay unmarked.

Signer.validation_data goes: every collection signature now carries its validation data in
the DSS at once (workflows.pdf.dss), none waits for completion any more."""

import json
from datetime import datetime, UTC

from tortoise import migrations
from tortoise.migrations import operations as ops


BATCH = 500


def _due_now(dialect: str):
    now = datetime.now(UTC)
    return now if dialect == "postgres" else now.isoformat(" ")


async def mark_outputs_due(apps, schema_editor) -> None:
    client = schema_editor.client
    dialect = client.capabilities.dialect
    mark = "$1" if dialect == "postgres" else "?"
    ids: set[int] = set()
    _, rows = await client.execute_query(
        "SELECT report_pdf_id FROM collection WHERE report_pdf_id IS NOT NULL")
    ids.update(row[0] for row in rows)
    _, rows = await client.execute_query(
        "SELECT cd.current_id FROM collection_document cd JOIN collection c"
        " ON c.id = cd.collection_id WHERE c.state = 'completed' AND cd.current_id IS NOT NULL")
    ids.update(row[0] for row in rows)
    _, rows = await client.execute_query(
        "SELECT data FROM evidence_event WHERE kind = 'seal.applied'")
    sealed = set()
    for (data,) in rows:
        data = json.loads(data) if isinstance(data, (str, bytes)) else data
        if data.get("sealed_sha256"):
            sealed.add(data["sealed_sha256"])
    # One pass over the documents still unmarked, rather than a query per sealed file.
    _, rows = await client.execute_query(
        "SELECT id, sha256 FROM document WHERE archive_until IS NULL AND renewed_by_id IS NULL")
    unmarked = {row[0] for row in rows}
    ids = (ids | {row[0] for row in rows if row[1] in sealed}) & unmarked
    due = _due_now(dialect)
    ordered = sorted(ids)
    for start in range(0, len(ordered), BATCH):
        chosen = ", ".join(str(int(i)) for i in ordered[start:start + BATCH])
        await client.execute_query(
            f"UPDATE document SET archive_until = {mark} WHERE id IN ({chosen})", [due])


async def leave_marks(apps, schema_editor) -> None:
    """Going back leaves the marks: a due date on an output is true at any schema version."""


class Migration(migrations.Migration):
    dependencies = [('models', '0006_web_hardening')]

    initial = False

    operations = [
        ops.RunPython(mark_outputs_due, reverse_code=leave_marks),
        ops.RemoveField(model_name='Signer', name='validation_data'),
    ]
