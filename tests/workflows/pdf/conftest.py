"""Fixtures of the PDF tests: a trust service reachable at its public URL, a signing engine."""

from __future__ import annotations

import pytest

from tests.web.trust_server import free_public_url, serving_trust
from workflows import clock
from workflows.models import Cabinet
from workflows.pdf.engine import SigningEngine
from workflows.trust.ca import TrustService


@pytest.fixture
def pdf_settings(settings):
    """The test settings, with a public URL where the OCSP responder will really answer."""
    return settings.model_copy(update={"public_url": free_public_url()})


@pytest.fixture
async def trust(db, pdf_settings):
    service = await TrustService.open(pdf_settings)
    # pdfsig asks the OCSP responder named in the certificates: serve it on loopback.
    async with serving_trust(service):
        yield service


@pytest.fixture
async def engine(pdf_settings):
    eng = SigningEngine(pdf_settings, workers=2)
    yield eng
    eng.close()


@pytest.fixture
async def cabinet(db):
    return await Cabinet.create(slug="dupre", name="Cabinet Dupré & Associés",
                                siren="552100554", created_at=clock.now())


@pytest.fixture
async def seal(trust, cabinet):
    """(certificate row, SigningKeyRef, ValidationBundle) of the cabinet's seal."""
    cert = await trust.seal_certificate_for(cabinet)
    return cert, await trust.signing_key(cert), await trust.validation_bundle([cert])
