"""`paraphe registration list|show|approve|refuse` run as a real process."""

from __future__ import annotations

import pytest

from paraphe import templating
from tests.cli import paraphe
from tests.paraphe.test_cli import ok, refused
from tests.registration import register
from workflows import people
from workflows.actors import Actor
from workflows.models import Certificate, Notification, Registration

OP = Actor.operator()


@pytest.fixture
async def svc(settings, db):
    from workflows.services import Services

    services = await Services.start(settings, templating)
    yield services
    await services.close()


async def _people():
    await people.create_cabinet(OP, slug="dupont", name="Cabinet Dupont", siren="552100554")
    anne, _ = await people.add_person(OP, email="anne@dupont.fr", name="Anne Dupont",
                                      cabinet="dupont", role="expert")
    marc, _ = await people.add_person(OP, email="marc@dupont.fr", name="Marc Dupont",
                                      cabinet="dupont", role="expert", language="en")
    return anne, marc


async def test_list_show_approve_refuse(svc, settings, tmp_path):
    anne, marc = await _people()
    first = (await register(svc, anne, document_type="id_card")).registration
    second = (await register(svc, marc)).registration

    listed = ok(paraphe(settings, "registration", "list", "--json")).json()
    assert [(r["id"], r["email"]) for r in listed] == [(first.id, "anne@dupont.fr"),
                                                      (second.id, "marc@dupont.fr")]
    assert "Anne Dupont <anne@dupont.fr>" in ok(paraphe(settings, "registration", "list")).out

    shown = ok(paraphe(settings, "registration", "show", str(first.id), "--json",
                       "--export", str(tmp_path / "docs"))).json()
    assert shown["state"] == "submitted" and shown["phone"].startswith("+3361")
    assert [d["side"] for d in shown["documents"]] == ["front", "back"]
    assert shown["identity_confirmed"]["cabinets"] == ["Cabinet Dupont"]
    exported = sorted(p.name for p in (tmp_path / "docs").iterdir())
    assert exported == [f"registration-{first.id}-back.png", f"registration-{first.id}-front.png"]
    assert (tmp_path / "docs" / exported[0]).read_bytes().startswith(b"\x89PNG")
    assert "front: image/png" in ok(paraphe(settings, "registration", "show",
                                            str(first.id))).out

    out = ok(paraphe(settings, "registration", "approve", str(first.id))).out
    assert f"registration {first.id} approved" in out
    reg = await Registration.get(id=first.id)
    cert = await Certificate.get(id=reg.certificate_id)
    assert reg.state == "approved" and cert.kind == "personal" and cert.serial in out
    assert await Notification.exists(template="registrant/approved", recipient="anne@dupont.fr")

    ok(paraphe(settings, "registration", "refuse", str(second.id), "Photo", "illisible"))
    reg = await Registration.get(id=second.id)
    assert reg.state == "refused" and reg.refusal_reason == "Photo illisible"
    mail = await Notification.get(template="registrant/refused")
    assert mail.recipient == "marc@dupont.fr" and mail.language == "en"
    assert ok(paraphe(settings, "registration", "list", "--json")).json() == []


async def test_refusals_are_one_line(svc, settings):
    anne, _ = await _people()
    first = (await register(svc, anne)).registration
    refused(paraphe(settings, "registration", "show", "999"), "no registration 999")
    refused(paraphe(settings, "registration", "approve", "abc"), "invalid int value")
    refused(paraphe(settings, "registration", "refuse", str(first.id)), "required")
    refused(paraphe(settings, "registration", "refuse", str(first.id), " "), "reason")
    ok(paraphe(settings, "registration", "approve", str(first.id)))
    refused(paraphe(settings, "registration", "approve", str(first.id)), "is approved")
    refused(paraphe(settings, "registration", "refuse", str(first.id), "Trop tard"),
            "is approved")
