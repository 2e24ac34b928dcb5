"""The archive sweep: a fresh document timestamp before the newest one's TSA certificate expires."""

from __future__ import annotations

from datetime import timedelta

from tests.ades import ades_indications
from tests.cli import paraphe
from tests.workflows.collection_world import make_services, pdf, seed
from workflows import archive, clock, sealing, sweeps
from workflows.actors import Actor
from workflows.models import Document, EvidenceEvent


async def _sealed(svc):
    result = await sealing.seal_document(svc, Actor.operator(), cabinet="dupre",
                                         filename="facture.pdf", data=pdf("Facture"))
    return await Document.get(sha256=result.sha256)


async def test_the_sweep_renews_only_what_lapses_within_the_margin(db, settings):
    svc = await make_services(settings)
    try:
        await seed(svc)
        doc = await _sealed(svc)
        # The TSA unit's certificate lives 12 years: nothing is due with a 2-year margin.
        assert doc.archive_until > clock.now() + timedelta(days=11 * 365)
        assert await sweeps.renew_archive_timestamps(svc) == 0
        # PARAPHE_ARCHIVE_RENEW_BEFORE longer than what is left: renewed, once.
        svc.settings = settings.model_copy(update={"archive_renew_before": timedelta(
            days=13 * 365)})
        assert await sweeps.renew_archive_timestamps(svc) == 1
        old = await Document.get(id=doc.id)
        new = await Document.get(id=old.renewed_by_id)
        assert svc.documents.path(old.sha256).exists()  # the old version is kept
        data = await svc.documents.read(new.sha256)
        assert data.startswith(await svc.documents.read(old.sha256))
        assert await ades_indications(data, svc.trust.trust_roots()[0],
                                      clock.now()) == ["PASSED"]
        (event,) = await EvidenceEvent.filter(kind="document.archive_renewed")
        assert (event.data["before_sha256"], event.data["after_sha256"]) == (
            old.sha256, new.sha256)
        # What was renewed is not renewed again by this run's output.
        done = await archive.renew_due(svc, stored_before=new.created_at)
        assert done == []
    finally:
        svc.engine.close()


def test_archive_renew_refuses_a_date_it_cannot_read(db, settings):
    result = paraphe(settings, "archive", "renew", "--before", "next tuesday")
    assert result.code != 0
    assert "not an ISO 8601 date" in (result.out + result.err)
    done = paraphe(settings, "archive", "renew", "--before", "2030-01-01")
    assert done.code == 0, done.err
    assert "0 document(s) renewed" in done.out
