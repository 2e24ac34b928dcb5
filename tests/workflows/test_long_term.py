"""Legal durability: seals, signed collections and evidence reports validate offline for years.

Checked as an EU validator would (pyHanko's EN 319 102-1 AdES process, with nothing fetched:
the DSS alone) at later dates, and by poppler's pdfsig, which checks certificates at its own
current time, moved with libfaketime.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.ades import ades_indications, ades_later
from tests.cli import paraphe
from tests.registration import register_and_approve
from tests.validators import pdfsig_report
from tests.web.trust_server import serving_trust
from tests.workflows.collection_world import (  # noqa: F401 - fixtures
    code_of,
    link_of,
    pdf,
    token_of,
    world,
    world_settings,
)
from tests.sms import sent_sms
from workflows import clock, collections, delegations, sealing
from workflows.actors import Actor
from workflows.collections import SignerSpec
from workflows.models import Collection, CollectionDocument, Document, EvidenceEvent

YEAR = timedelta(days=365)
# libfaketime's relative offsets of the validator's clock.
LATER = ("+2h", "+30d", f"+{5 * 365}d")
THIRTEEN_YEARS, ELEVEN_YEARS = f"+{13 * 365}d", f"+{11 * 365}d"
WEB = dict(ip="127.0.0.1", user_agent="pytest")


async def _client_signs(world, email: str) -> None:
    token = token_of(await link_of(email))
    await collections.send_code(world.svc, token, "mail")
    await collections.sign_with_code(world.svc, token, await code_of(email), consent=True, **WEB)


async def _completed_collection(world) -> Collection:
    """Two clients and Léa, a member signing with her personal certificate."""
    svc = world.svc
    await delegations.grant(Actor.operator(), world.launcher, world.cabinet, "sign")
    await register_and_approve(svc, world.launcher, phone="+33612345678")
    collection = await collections.create_collection(
        svc, world.actor(world.expert), cabinet="dupre",
        documents=[("lettre.pdf", pdf("Lettre de mission"))],
        signers=[SignerSpec("Jean Martin", "client1@example.test"),
                 SignerSpec("Zoé Bernard", "client2@example.test"),
                 SignerSpec("Léa Lance", "launch@dupre.test")])
    await _client_signs(world, "client1@example.test")
    await _client_signs(world, "client2@example.test")
    actor = world.actor(world.launcher)
    assert await collections.request_signature_code(svc, actor, collection.id) == "sms"
    code = (await sent_sms(svc))[-1]["text"].split(" est ")[1][:6]
    await collections.sign_internal(svc, actor, collection.id, code)
    done = await Collection.get(id=collection.id)
    assert done.state == "completed" and done.finalized_at is not None
    return done


async def _outputs(world, seal_sha256: str, collection_id: int) -> dict[str, bytes]:
    """The current stored version of each output, by name."""
    store = world.svc.documents
    collection = await Collection.get(id=collection_id)
    row = await CollectionDocument.get(collection_id=collection_id).prefetch_related("current")
    return {"seal": await store.read(seal_sha256),
            "collection": await store.read(row.current.sha256),
            "report": await store.read((await Document.get(id=collection.report_pdf_id)).sha256)}


async def test_outputs_validate_offline_for_years_and_after_archive_renewal(world):
    svc = world.svc
    sealed = await sealing.seal_document(svc, Actor.operator(), cabinet="dupre",
                                         filename="facture.pdf", data=pdf("Facture 42"))
    collection = await _completed_collection(world)
    outputs = await _outputs(world, sealed.sha256, collection.id)
    root = svc.trust.trust_roots()[0]
    expected = {"seal": ["PASSED"], "collection": ["PASSED"] * 3, "report": ["PASSED"]}
    start = clock.now()
    # Right away, in this process: the AdES process given the time.
    assert {name: await ades_indications(data, root, start) for name, data in
            outputs.items()} == expected
    for later in LATER:
        assert await ades_later(outputs, root, later) == expected, later
    # Left alone for 13 years, they no longer validate: the TSA unit's certificate (12 years)
    # has expired and no later timestamp proves the older data existed before.
    stale = await ades_later(outputs, root, THIRTEEN_YEARS)
    assert all(found != ["PASSED"] * len(found) for found in stale.values()), stale

    # Eleven years on, the archive timestamps are renewed (the CLI's clock moved too).
    old_versions = await Document.filter(archive_until__not_isnull=True).count()
    assert old_versions == 3
    svc.engine.close()
    result = paraphe(svc.settings, "archive", "renew", "--json", timeout=300,
                     faketime=ELEVEN_YEARS)
    assert result.code == 0, result.err
    renewed = result.json()["renewed"]
    # A sealed file's name belongs to the seal's answer, not to the stored blob (the same
    # bytes may come from two cabinets): the operator sees it by its SHA-256.
    assert sorted(r["filename"] for r in renewed) == sorted(
        [f"{sealed.sha256[:16]}.pdf", "lettre.pdf", f"preuve-{collection.id}.pdf"])
    for renewal in renewed:
        assert datetime.fromisoformat(renewal["archive_until"]) > start + 20 * YEAR
    # The old versions are kept; what pointed at them points at the renewed ones.
    assert await Document.filter(renewed_by_id__not_isnull=True).count() == 3
    for renewal in renewed:
        assert svc.documents.path(renewal["before_sha256"]).exists()
    assert await EvidenceEvent.filter(kind="document.archive_renewed").count() == 3
    renewed_seal = next(r["after_sha256"] for r in renewed
                        if r["before_sha256"] == sealed.sha256)
    fresh = await _outputs(world, renewed_seal, collection.id)
    assert fresh.keys() == outputs.keys()
    for name, data in fresh.items():
        assert data.startswith(outputs[name])  # an incremental update over the old version
    assert await ades_later(fresh, root, THIRTEEN_YEARS) == expected
    # Running it again renews nothing: the new timestamps hold for years.
    again = paraphe(svc.settings, "archive", "renew", "--json", faketime=ELEVEN_YEARS)
    assert again.code == 0 and again.json()["renewed"] == [], again.err


async def test_pdfsig_trusts_each_client_signature_two_hours_later(world, tmp_path):
    collection = await _completed_collection(world)
    row = await CollectionDocument.get(collection_id=collection.id).prefetch_related("current")
    path = tmp_path / "lettre-signee.pdf"
    path.write_bytes(await world.svc.documents.read(row.current.sha256))
    clock.fast_forward(hours=2)  # The service answers OCSP two hours on, like pdfsig's clock.
    async with serving_trust(world.svc.trust):
        entries = await pdfsig_report(path, world.svc.trust.root_pem(), later="+2h")
    signers = {e["Signer Certificate Common Name"]: e for e in entries
               if e.get("Signature Type") != "unknown"
               and e.get("Signer Certificate Common Name") != "Paraphe Time-Stamping Authority"}
    assert set(signers) == {"Jean Martin", "Zoé Bernard", "Léa Lance"}, entries
    for name, entry in signers.items():
        assert entry["Signature Validation"] == "Signature is Valid.", (name, entry)
        assert entry["Certificate Validation"] == "Certificate is Trusted.", (name, entry)
