"""verify@: a validation report of each attached PDF, free of charge."""

from __future__ import annotations

import hashlib

from mail_gateway import errors
from mail_gateway.context import MailContext
from mail_gateway.replies import Reply, base_context
from workflows import verification
from workflows.errors import ParapheError

# The report fields the reply shows for each signature, when the report has them.
SIGNATURE_FIELDS = ("signer", "signer_name", "signing_time", "timestamp_time", "level",
                    "intact", "trusted", "revocation", "coverage", "modification_level",
                    "type", "ades", "ades_sub_indication", "offline")


async def run(ctx: MailContext) -> Reply:
    files = []
    for attachment in ctx.mail.attachments:
        entry = {"filename": attachment.filename,
                 "sha256": hashlib.sha256(attachment.data).hexdigest()}
        try:
            report = await verification.verify_document(ctx.svc, attachment.data,
                                                        attachment.filename)
        except ParapheError as exc:
            if exc.kind == "unavailable":
                raise
            files.append({**entry, "error": errors.cause(exc)})
            continue
        signatures = [{k: _plain(sig.get(k)) for k in SIGNATURE_FIELDS if k in sig}
                      for sig in report.get("signatures", [])]
        files.append({**entry, "ok": bool(report.get("ok")), "signatures": signatures,
                      "archive_until": report.get("archive_until")})
    return Reply("sender/verified", {**base_context(ctx), "files": files})


def _plain(value):
    # Notification contexts are stored as JSON.
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
