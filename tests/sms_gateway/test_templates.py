"""Every SMS template says who sends it; a code SMS never carries a link (a code SMS with a
link is what phishing looks like), and the one SMS that carries a link, the invitation sent
when the signer's address failed, carries no code."""

from __future__ import annotations

import pytest

from paraphe.templating import TEMPLATES_DIR, render

CONTEXT = {"code": "123456", "minutes": 10, "cabinet_name": "Cabinet Dupré",
           "signer_name": "Claire Client", "collection_id": 7, "title": "Lettre de mission",
           "name": "Léa Lance", "serial": "0A1B", "initiator": "Anne Dupré",
           "link": "https://sign.example/s/abc"}
TEMPLATES = sorted(p.relative_to(TEMPLATES_DIR / "sms").as_posix().rsplit(".", 2)[0]
                   for p in (TEMPLATES_DIR / "sms").rglob("*.j2"))
WITH_LINK = {"signer/invitation"}
CODES = sorted(set(TEMPLATES) - WITH_LINK)


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("template", CODES)
def test_a_code_sms_names_its_sender_and_has_no_link(template, language):
    text = render(f"sms/{template}", language, **CONTEXT).strip()
    assert text.startswith("Paraphe"), text
    assert "123456" in text
    lowered = text.lower()
    assert "http" not in lowered and "www." not in lowered and "/s/" not in text, text
    assert len(text) <= 306, text  # Two concatenated SMS at most.


def test_a_signer_code_names_the_cabinet():
    for language in ("fr", "en"):
        assert "Cabinet Dupré" in render("sms/signer/code", language, **CONTEXT)


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_invitation_sms_names_its_sender_and_carries_the_link_but_no_code(language):
    text = render("sms/signer/invitation", language, **CONTEXT).strip()
    assert text.startswith("Paraphe") and "Anne Dupré" in text and "Cabinet Dupré" in text
    assert CONTEXT["link"] in text and "123456" not in text
    assert len(text) <= 306, text
