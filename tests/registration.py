"""A test helper that walks a person through the core registration steps and the review."""

from __future__ import annotations

from tests.identity_images import png
from tests.sms import last_sms_code
from workflows import registration, registration_review
from workflows.actors import Actor

__all__ = ["last_sms_code", "ocsp_status", "register", "register_and_approve"]


async def register(svc, person, *, phone: str | None = None, document_type: str = "passport",
                   channel: str = "web", submit: bool = True):
    """Does every step of the person's registration (and submits it); returns its Progress."""
    actor = Actor(person_id=person.id, channel=channel)
    phone = phone or f"+3361{person.id:07d}"
    await registration.start_or_resume(svc, actor)
    await registration.confirm_identity(svc, actor)
    await registration.set_mobile(svc, actor, phone)
    await registration.verify_mobile(svc, actor, await last_sms_code(svc, phone))
    await registration.choose_document_type(svc, actor, document_type)
    await registration.add_document(svc, actor, "front", "front.png", png())
    if document_type != "passport":
        await registration.add_document(svc, actor, "back", "back.png", png())
    await registration.sign_agreement(svc, actor)
    done = await registration.accept_policies(svc, actor)
    return await registration.submit(svc, actor) if submit else done


async def register_and_approve(svc, person, **kwargs):
    """Registers the person and has the operator approve; returns the personal certificate."""
    from workflows.models import Certificate

    progress = await register(svc, person, **kwargs)
    reg = await registration_review.approve(svc, Actor.operator(), progress.registration.id)
    return await Certificate.get(id=reg.certificate_id)


async def ocsp_status(trust, cert) -> str:
    """good | revoked | unknown, as the OCSP responder at the public URL answers over HTTP."""
    import aiohttp
    from asn1crypto import ocsp as asn1_ocsp
    from asn1crypto import x509 as asn1_x509

    from workflows.trust import ocsp as ocsp_mod
    from workflows.trust.profiles import PERSONAL_CA

    cert_id = ocsp_mod.cert_id_for(asn1_x509.Certificate.load(bytes(cert.der)),
                                   trust.authority(PERSONAL_CA).asn1)
    request = asn1_ocsp.OCSPRequest({"tbs_request": {"request_list": [{"req_cert": cert_id}]}})
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{trust.settings.public_url}/ocsp", data=request.dump(),
                                headers={"Content-Type": "application/ocsp-request"}) as resp:
            der = await resp.read()
    response = asn1_ocsp.OCSPResponse.load(der)
    return response.basic_ocsp_response["tbs_response_data"]["responses"][0]["cert_status"].name
