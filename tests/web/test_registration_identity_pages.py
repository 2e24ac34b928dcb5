"""The registration page asks a one-word name for its other part and an expert for their
cabinet's SIREN (refusing one whose Luhn check digit is wrong), before the identity step."""

from __future__ import annotations

import re

from cryptography import x509
from cryptography.x509.oid import NameOID

from tests.registration import register_and_approve
from tests.web.signer_site import site  # noqa: F401 - fixture
from tests.workflows.collection_world import pdf, world_settings  # noqa: F401
from workflows import people, registration_links
from workflows.actors import Actor
from workflows.models import Cabinet, EvidenceEvent, Person

OP = Actor.operator()


def _step(page: str) -> str:
    return re.search(r'data-step="([a-z_]+)"', page).group(1)


def _problem(page: str) -> str | None:
    found = re.search(r'id="problem" data-code="([a-z_]+)"', page)
    return found.group(1) if found else None


async def _post(site, url, **form):
    r = await site.session.post(url, data=form, allow_redirects=False)
    if r.status == 303:
        r = await site.session.get(site.base + r.headers["Location"])
    return r, await r.text()


async def test_a_one_word_name_and_a_missing_siren_are_asked_on_the_page(site):
    svc = site.world.svc
    person, _ = await people.add_person(OP, email="madonna@autre.test", name="Madonna",
                                        cabinet="autre", role="expert")
    link = await registration_links.registration_link(svc.settings, person)
    r, page = await _post(site, f"{link}/start")
    assert _step(page) == "name" and "« Madonna »" in page
    r, page = await _post(site, f"{link}/identity")  # Not before the name.
    assert r.status == 422 and _problem(page) == "registration_step_missing"
    r, page = await _post(site, f"{link}/name", name="Madonna")
    assert r.status == 422 and _problem(page) == "person_name_incomplete"
    assert "deux mots au moins" in page
    r, page = await _post(site, f"{link}/name", name="Madonna Louise Ciccone")
    assert _step(page) == "siren" and "Autre Cabinet" in page

    # Nine digits whose last one is not the Luhn check digit: refused, nothing stored.
    r, page = await _post(site, f"{link}/siren", siren="123 456 789")
    assert r.status == 422 and _problem(page) == "siren_invalid"
    assert "clé de contrôle (Luhn)" in page and _step(page) == "siren"
    assert (await Cabinet.get(slug="autre")).siren is None
    r, page = await _post(site, f"{link}/siren", siren="12345")
    assert r.status == 422 and _problem(page) == "siren_invalid"
    r, page = await _post(site, f"{link}/siren", siren="732 829 320")
    assert r.status == 200 and _step(page) == "identity"
    assert "Madonna Louise Ciccone" in page
    assert (await Cabinet.get(slug="autre")).siren == "732829320"
    kinds = await EvidenceEvent.filter(kind__in=["registration.name_given",
                                                 "registration.siren_given",
                                                 "cabinet.siren_set"]).values_list("kind",
                                                                                   flat=True)
    assert sorted(kinds) == ["cabinet.siren_set", "registration.name_given",
                             "registration.siren_given"]

    # The rest of the path, then the certificate names the given name and the surname.
    cert = await register_and_approve(svc, await Person.get(id=person.id))
    cert = x509.load_der_x509_certificate(bytes(cert.der))
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.GIVEN_NAME)] == [
        "Madonna"]
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.SURNAME)] == [
        "Louise Ciccone"]
