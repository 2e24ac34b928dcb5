"""Texts for people: dates in the service's time zone as people write them, and the product's
codes (delegations, states, channels) in words of the reader's language."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from zoneinfo import ZoneInfoNotFoundError

from paraphe import templating
from paraphe.templating import TEMPLATES_DIR

AT = "2026-12-16T13:05:00+00:00"  # 14 h 05 in Paris (winter time)


@pytest.fixture(autouse=True)
def _paris():
    templating.set_timezone("Europe/Paris")
    yield
    templating.set_timezone("Europe/Paris")


def _invitation(language: str) -> str:
    return templating.render("mail/signer/invitation", language, signer_name="Jean",
                             cabinet_name="Cabinet Dupré", initiator="Anne", title="Lettre",
                             message="", documents=[], link="http://x/s/t", internal=False,
                             expires_at=AT, ordered=False, thread={}, recipient="j@x.test",
                             public_url="http://x")


def test_french_dates_in_paris_time_and_english_ones_beside():
    assert "valable jusqu'au 16 décembre 2026 à 14 h 05." in _invitation("fr")
    assert "valid until 16 December 2026 at 14:05." in _invitation("en")
    templating.set_timezone("America/Montreal")
    assert "16 décembre 2026 à 8 h 05" in _invitation("fr")


def test_an_unknown_zone_fails_at_start():
    with pytest.raises((ZoneInfoNotFoundError, ValueError)):
        templating.set_timezone("Europe/Atlantis")


def test_no_text_slices_an_iso_date_or_says_utc_to_people():
    """Reports for auditors keep UTC beside local time; texts for people do not."""
    offenders = [str(p.relative_to(TEMPLATES_DIR)) for p in Path(TEMPLATES_DIR).rglob("*.j2")
                 if "reports" not in p.parts
                 and ("[:10]" in p.read_text() or "(UTC)" in p.read_text())]
    # The French words are in the catalog, not in the templates.
    with (templating.LOCALE_DIR / "fr" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        offenders += [m.string for m in read_po(f) if "(UTC)" in m.string
                      and not all("/reports/" in place for place, _ in m.locations)]
    assert offenders == []


def test_every_code_has_a_word_in_each_language():
    fr, en = templating.VOCABULARY["fr"], templating.VOCABULARY["en"]
    assert {k: set(v) for k, v in fr.items()} == {k: set(v) for k, v in en.items()}


def test_delegations_are_named_in_french_in_french_texts():
    text = templating.render("chat/account/delegations", "fr",
                             rights={"dupont": ["sign", "seal", "prepare", "launch"]},
                             roles={"dupont": "collaborator"})
    assert text.strip() == "dupont (collaborateur) : signer, sceller, préparer, lancer"
    english = templating.render("chat/account/delegations", "en",
                                rights={"dupont": ["seal"]}, roles={"dupont": "expert"})
    assert english.strip() == "dupont (chartered accountant): seal"
