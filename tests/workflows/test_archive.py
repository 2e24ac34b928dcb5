"""The archive sweep: a fresh document timestamp before the newest one's TSA certificate expires."""

from __future__ import annotations

from datetime import timedelta

from tests.ades import ades_indications, ades_later
from tests.cli import paraphe
from tests.workflows.collection_world import make_services, pdf, seed
from workflows import archive, clock, evidence, sealing, sweeps
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


async def test_outputs_stored_before_b_lta_are_renewed_by_the_sweep(db, settings):
    """A B-LT seal stored before archive timestamps existed (no `archive_until`) is marked due
    by migration 0007; the sweep then gives it fresh data and a document timestamp, and it
    validates offline a month later, where the old version does not."""
    from importlib import import_module

    from tortoise import connections

    from workflows.models import Cabinet

    backfill = import_module("workflows.migrations.0007_archive_backfill")
    svc = await make_services(settings)
    try:
        await seed(svc)
        cab = await Cabinet.get(slug="dupre")
        cert, key = await svc.trust.seal_key_for(cab)
        legacy = await svc.engine.sign(pdf("Ancien cachet"), key, reason="Cachet", name=cab.name,
                                       bundle=await svc.trust.validation_bundle([cert]),
                                       level="B-LT")
        old = await svc.documents.put(legacy)
        upload = await svc.documents.put(pdf("Pas une sortie"))
        await evidence.record("seal.applied", Actor.operator(), cabinet_id=cab.id,
                              data={"filename": "ancien.pdf", "sealed_sha256": old.sha256})
        assert await sweeps.renew_archive_timestamps(svc) == 0  # invisible before the backfill

        class Editor:
            client = connections.get("default")

        await backfill.mark_outputs_due(None, Editor())
        assert (await Document.get(id=upload.id)).archive_until is None
        assert await sweeps.renew_archive_timestamps(svc) == 1
        old = await Document.get(id=old.id)
        new = await Document.get(id=old.renewed_by_id)
        assert new.archive_until > clock.now() + timedelta(days=11 * 365)
        renewed = await svc.documents.read(new.sha256)
        assert renewed.startswith(legacy)
        root = svc.trust.trust_roots()[0]
        later = await ades_later({"legacy": legacy, "renewed": renewed}, root, "+30d")
        assert later["renewed"] == ["PASSED"]
        assert later["legacy"] != ["PASSED"]
        (event,) = await EvidenceEvent.filter(kind="document.archive_renewed")
        assert event.data["before_sha256"] == old.sha256
        # Run again: marks nothing twice, renews nothing more.
        await backfill.mark_outputs_due(None, Editor())
        assert await sweeps.renew_archive_timestamps(svc) == 0
    finally:
        svc.engine.close()
