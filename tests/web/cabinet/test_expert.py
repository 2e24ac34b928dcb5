"""The cabinet space as an expert and as a collaborator, over HTTP on loopback: members,
delegations, terms, credit, API keys and collections, each change in the evidence log with
the member as actor; a collaborator sees only what their delegations allow."""

from __future__ import annotations

from tests.web.cabinet.browser import problem_of
from tests.workflows.collection_world import pdf
from workflows import apikeys, clock, collections, delegations, people, sealing, webhooks
from workflows.actors import Actor
from workflows.collections import SignerSpec
from workflows.errors import ApiKeyRevokedError
from workflows.models import (
    Collection,
    Delegation,
    EvidenceEvent,
    Membership,
    Notification,
    Person,
    Signer,
)

import pytest

ANNE = "expert@dupre.test"
OP = Actor.operator()


async def _event(kind: str) -> EvidenceEvent:
    return await EvidenceEvent.filter(kind=kind).order_by("-id").first()


async def test_expert_manages_members_delegations_terms_and_keys(site, browser):
    world = site.world
    await people.create_cabinet(OP, slug="neuf", name="Cabinet Neuf")
    await people.add_person(OP, email=ANNE, name="Anne Dupré", cabinet="neuf", role="expert")
    b = browser()
    await b.sign_in(ANNE)
    assert "Cabinet Dupré" in b.page and "Cabinet Neuf" in b.page
    # Invite a collaborator: their welcome mail, the evidence naming the expert.
    r, page = await b.get("/c/dupre/members")
    assert r.status == 200 and "Inviter un collaborateur" in page
    r, _ = await b.post("/c/dupre/members/invite", email="Claire@Dupre.test",
                        name="Claire Collab", language="fr")
    assert r.status == 303 and r.headers["Location"] == "/c/dupre/members?done=invited"
    _, page = await b.get(r.headers["Location"])
    assert 'data-done="invited"' in page and 'data-member="claire@dupre.test"' in page
    claire = await Person.get(email="claire@dupre.test")
    welcome = await Notification.get(recipient="claire@dupre.test", template="member/welcome")
    assert welcome.context["expert"] == "Anne Dupré"
    assert welcome.context["link"] == f"{site.base}/c/login"
    created = await _event("membership.created")
    assert created.person_id == claire.id and created.data["actor"] == world.expert.id
    assert created.channel == "web" and created.data["origin"]["ip"] == "127.0.0.1"
    r, page = await b.post("/c/dupre/members/invite", email="claire@dupre.test", name="C")
    assert r.status == 409 and problem_of(page) == "membership_exists"
    # Grant seal, then revoke and grant again.
    await b.get("/c/dupre/members")
    r, _ = await b.post(f"/c/dupre/members/{claire.id}/grant", action="seal")
    assert r.status == 303 and r.headers["Location"].endswith("done=granted")
    assert await delegations.rights_of(claire) == {"dupre": ["seal"]}
    granted = await _event("delegation.granted")
    assert granted.data["actor"] == world.expert.id and granted.data["action"] == "seal"
    await b.get("/c/dupre/members")
    r, page = await b.post(f"/c/dupre/members/{claire.id}/grant", action="teleport")
    assert r.status == 422 and problem_of(page) == "delegation_unknown"
    # Terms: the new cabinet's, accepted by its expert from the page.
    r, page = await b.get("/c/neuf/terms")
    assert r.status == 200 and "J'accepte les conditions pour le cabinet" in page
    r, _ = await b.post("/c/neuf/terms/accept", version=world.svc.settings.terms_version)
    assert r.status == 303
    _, page = await b.get("/c/neuf/terms")
    assert 'id="terms-accepted"' in page and ANNE in page
    accepted = await _event("terms.accepted")
    assert accepted.data["actor"] == world.expert.id
    # Credit, ledger and price list.
    r, page = await b.get("/c/dupre/credit")
    assert r.status == 200 and 'id="balance">100<' in page and "Tarifs" in page
    # An API key, shown once, then revoked.
    await b.get("/c/dupre/keys")
    r, page = await b.post("/c/dupre/keys", name="Logiciel Compta", email=ANNE,
                           scope="seal")
    assert r.status == 200 and 'id="new-key"' in page
    token = page.split('id="key-token">', 1)[1].split("<", 1)[0]
    key = await apikeys.authenticate(token)
    assert key.scopes == ["seal"] and key.person_id == world.expert.id
    assert (await _event("apikey.created")).data["actor"] == world.expert.id
    _, page = await b.get("/c/dupre/keys")
    assert token not in page and f'data-key="{key.prefix}"' in page
    r, _ = await b.post(f"/c/dupre/keys/{key.id}/revoke")
    assert r.status == 303 and r.headers["Location"].endswith("done=key_revoked")
    with pytest.raises(ApiKeyRevokedError):
        await apikeys.authenticate(token)
    # A webhook: a private address refused, a public one added (its secret shown once),
    # then removed.
    await b.get("/c/dupre/webhooks")
    r, page = await b.post("/c/dupre/webhooks", url="http://127.0.0.1:9/hook", events="")
    assert r.status == 422 and problem_of(page) == "webhook_target_forbidden"
    await b.get("/c/dupre/webhooks")
    r, page = await b.post("/c/dupre/webhooks", url="https://93.184.215.14/hook",
                           events="collection.*")
    assert r.status == 200 and 'id="webhook-secret">whsec_' in page
    endpoint = (await webhooks.list_endpoints("dupre"))[0]
    assert endpoint.events == ["collection.*"]
    assert (await _event("webhook.added")).data["actor"] == world.expert.id
    r, _ = await b.post(f"/c/dupre/webhooks/{endpoint.id}/remove")
    assert r.status == 303 and r.headers["Location"].endswith("done=webhook_removed")
    assert await webhooks.list_endpoints("dupre") == []
    # Remove the collaborator: their delegations go with the membership.
    await b.get("/c/dupre/members")
    r, _ = await b.post(f"/c/dupre/members/{claire.id}/remove")
    assert r.status == 303
    assert not await Membership.exists(person_id=claire.id)
    assert not await Delegation.exists(granted_by_id=world.expert.id, action="seal")
    assert (await _event("membership.removed")).data["actor"] == world.expert.id
    await b.get("/c/dupre/members")
    r, page = await b.post(f"/c/dupre/members/{world.expert.id}/remove")
    assert r.status == 409 and problem_of(page) == "member_not_removable"
    # English, complete.
    _, page = await b.get("/c/dupre/members?lang=en")
    assert "Invite a collaborator" in page and "Members and delegations" in page


async def test_collaborator_sees_only_what_their_delegations_allow(site, browser):
    world = site.world
    anne = Actor(world.expert.id, "web")
    claire = await people.invite_collaborator(world.svc.settings, anne, world.cabinet,
                                              email="claire@dupre.test", name="Claire Collab")
    await delegations.grant(anne, claire, world.cabinet, "seal")
    b = browser()
    await b.sign_in("claire@dupre.test")
    r, page = await b.get("/c/dupre")
    assert r.status == 200
    assert 'data-right="seal" data-held="yes"' in page
    assert 'data-right="sign" data-held="no"' in page
    assert 'data-right="launch" data-held="no"' in page
    assert "/c/dupre/members" not in page and "/c/dupre/keys" not in page
    for section in ("members", "terms", "credit", "keys"):
        r, page = await b.get(f"/c/dupre/{section}")
        assert r.status == 403 and problem_of(page) == "expert_required", section
        assert "expert-comptable du cabinet a accès à cette page" in page
    r, page = await b.get("/c/autre")
    assert r.status == 403 and problem_of(page) == "not_a_member"
    r, page = await b.get("/c/autre/collections")
    assert r.status == 403
    # A form posted anyway (with her own valid token) is refused by the core.
    await b.get("/c/dupre")
    r, page = await b.post(f"/c/dupre/members/{claire.id}/grant", action="launch")
    assert r.status == 403 and problem_of(page) == "delegation_missing"
    r, page = await b.post("/c/dupre/keys", name="x", email="claire@dupre.test")
    assert r.status == 403 and problem_of(page) == "expert_required"
    r, page = await b.post("/c/dupre/members/invite", email="z@dupre.test", name="Z")
    assert r.status == 403 and problem_of(page) == "expert_required"
    assert await delegations.rights_of(claire) == {"dupre": ["seal"]}
    # Her seals, and nobody else's; the expert sees them all.
    sealed = await sealing.seal_document(world.svc, Actor(claire.id, "telegram"),
                                         cabinet="dupre", filename="bilan.pdf", data=pdf())
    r, page = await b.get("/c/dupre/seals")
    assert r.status == 200 and f'data-seal="{sealed.sha256}"' in page and "bilan.pdf" in page
    assert "<td>Telegram</td>" in page and "Mes cachets" in page
    r, page = await b.get("/c/dupre/webhooks")
    assert r.status == 403 and problem_of(page) == "expert_required"
    paul = browser()
    await paul.sign_in("prep@dupre.test")
    _, page = await paul.get("/c/dupre/seals")
    assert sealed.sha256 not in page and "Aucun cachet." in page
    anne = browser()
    await anne.sign_in(ANNE)
    _, page = await anne.get("/c/dupre/seals")
    assert f'data-seal="{sealed.sha256}"' in page and "Claire Collab" in page
    r, page = await anne.get("/c/dupre/webhooks")
    assert r.status == 200 and "Aucune livraison." in page
    # Her collections only: the expert's are not listed, nor openable.
    mine = await _create(world, world.preparer)
    r, page = await b.get("/c/dupre/collections")
    assert r.status == 200 and f'data-collection="{mine.id}"' not in page
    r, page = await b.get(f"/c/dupre/collections/{mine.id}/evidence.pdf")
    assert r.status == 404


async def _create(world, person, n=1):
    return await collections.create_collection(
        world.svc, world.actor(person), cabinet="dupre", documents=[("lettre.pdf", pdf())],
        signers=[SignerSpec(f"Client {i}", f"client{i}@example.test")
                 for i in range(1, n + 1)], title="Lettre de mission")


async def test_expert_approves_rejects_cancels_and_downloads_evidence(site, browser):
    world = site.world
    first = await _create(world, world.preparer, n=2)
    second = await _create(world, world.preparer)
    assert first.state == second.state == "awaiting_approval"
    paul = browser()
    await paul.sign_in("prep@dupre.test")
    _, page = await paul.get("/c/dupre/collections")
    assert f'data-collection="{first.id}"' in page  # His own.
    b = browser()
    await b.sign_in(ANNE)
    r, page = await b.get("/c/dupre/collections?state=awaiting_approval")
    assert r.status == 200 and f'data-collection="{first.id}"' in page
    assert "Client 2 &lt;client2@example.test&gt; : en attente" in page
    r, _ = await b.post(f"/c/dupre/collections/{first.id}/approve")
    assert r.status == 303 and r.headers["Location"].endswith("done=approve")
    assert (await Collection.get(id=first.id)).state == "in_progress"
    _, page = await b.get("/c/dupre/collections?state=in_progress")
    assert f'data-collection="{first.id}" data-state="in_progress"' in page
    assert f'data-collection="{second.id}"' not in page
    assert "(en cours)" in page and "(in_progress)" not in page
    # Where each signer's invitation stands: waiting to be sent, then a bounced address.
    assert "client1@example.test&gt; : en attente <span class=\"muted\">(en attente d&#39;envoi)" \
        in page
    await Signer.filter(email="client2@example.test").update(
        delivery_failed_at=clock.now(), delivery_failure="550 5.1.1 user unknown")
    _, page = await b.get("/c/dupre/collections?state=in_progress")
    assert "(adresse en échec : 550 5.1.1 user unknown)" in page
    _, page = await b.get("/c/dupre/collections?state=in_progress&lang=en")
    assert "(address failing: 550 5.1.1 user unknown)" in page and "(in progress)" in page
    r, _ = await b.post(f"/c/dupre/collections/{first.id}/remind")
    assert r.status == 303
    r, page = await b.post(f"/c/dupre/collections/{second.id}/reject", reason="")
    assert r.status == 422 and problem_of(page) == "reason_required"
    await b.get("/c/dupre/collections")
    r, _ = await b.post(f"/c/dupre/collections/{second.id}/reject", reason="Mauvais client")
    assert r.status == 303
    assert (await Collection.get(id=second.id)).rejection_reason == "Mauvais client"
    await b.get("/c/dupre/collections")
    r, _ = await b.post(f"/c/dupre/collections/{first.id}/cancel")
    assert r.status == 303
    approved = await EvidenceEvent.filter(kind__startswith="collection.",
                                          collection_id=first.id).values_list("data",
                                                                              flat=True)
    assert any(d.get("actor") == world.expert.id for d in approved)
    r = await b.session.get(f"{site.base}/c/dupre/collections/{first.id}/evidence.pdf")
    body = await r.read()
    assert r.status == 200 and r.content_type == "application/pdf" and body[:5] == b"%PDF-"
    assert r.headers["X-Document-Sha256"]
    r = await b.session.get(f"{site.base}/c/dupre/collections/{first.id}/documents/1")
    assert r.status == 200 and (await r.read())[:5] == b"%PDF-"
    # Another cabinet's expert sees none of it.
    omar = browser()
    await omar.sign_in("other@autre.test")
    r, page = await omar.get(f"/c/dupre/collections/{first.id}/evidence.pdf")
    assert r.status == 403 and problem_of(page) == "not_a_member"
