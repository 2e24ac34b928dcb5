"""Verification of signed PDFs: a free report for any channel."""

from __future__ import annotations

import asyncio

from workflows.pdf.intake import check_pdf
from workflows.pdf.verify import verify_pdf
from workflows.services import Services

VERIFY_MARGIN = 1024 * 1024


async def verify_document(svc: Services, data: bytes, filename: str) -> dict:
    """A validation report of every signature in the PDF against the platform's root.

    Raises the Document*Error family for input that is not a readable PDF.
    """
    # A signed file may exceed the upload limit by what its signatures added.
    limit = svc.settings.max_document_bytes + VERIFY_MARGIN
    await asyncio.get_running_loop().run_in_executor(None, lambda: check_pdf(
        data, filename, max_bytes=limit))
    report = await verify_pdf(data, trust_roots=svc.trust.trust_roots())
    report.setdefault("filename", filename)
    return report
