"""Fixtures of the trust tests: an opened trust service and a cabinet."""

from __future__ import annotations

import pytest

from workflows import clock
from workflows.models import Cabinet, Person
from workflows.trust.ca import TrustService


@pytest.fixture
async def trust(db, settings):
    return await TrustService.open(settings)


@pytest.fixture
async def cabinet(db):
    return await Cabinet.create(slug="dupont", name="Cabinet Dupont & Associés",
                                siren="552100554", created_at=clock.now())


@pytest.fixture
async def person(db):
    return await Person.create(email="marie.curie@example.org", name="Marie Salomea Curie",
                               created_at=clock.now())
