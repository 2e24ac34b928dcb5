"""Fixtures of the canaries: those of the PDF tests (a trust service, a cabinet's seal) and of
the mail gateway tests (a running gateway), each canary driving the real path."""

from __future__ import annotations

from tests.mail_gateway.conftest import dns, dupont_key, gateway, svc  # noqa: F401
from tests.workflows.pdf.conftest import cabinet, pdf_settings, seal, trust  # noqa: F401
