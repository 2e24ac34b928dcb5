"""The French catalog matches the templates: what Babel extracts from templates/ (with babel.cfg,
as `make catalogs` does) is exactly the catalog's msgids, each translated, none fuzzy, with the
same placeholders; and English needs no catalog (its text is the msgids)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from paraphe import templating
from paraphe.templating import LOCALE_DIR

ROOT = Path(__file__).resolve().parent.parent
PO = LOCALE_DIR / "fr" / "LC_MESSAGES" / "messages.po"
# _p("context", "…"): a string with a context, as the Makefile's `-k _p:1c,2`.
KEYWORDS = {**DEFAULT_KEYWORDS, "_p": ((1, "c"), 2)}
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _extracted() -> dict[tuple[str | None, str], list[str]]:
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f, "babel.cfg")
    found: dict[tuple[str | None, str], list[str]] = {}
    for filename, lineno, message, _, context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS, strip_comment_tags=True):
        msgid = message if isinstance(message, str) else message[0]
        found.setdefault((context, msgid), []).append(f"{filename}:{lineno}")
    return found


def _catalog():
    with PO.open("rb") as f:
        return read_po(f, locale="fr")


def test_the_catalog_holds_exactly_the_extracted_msgids():
    extracted = _extracted()
    catalog = {(m.context, m.id) for m in _catalog() if m.id}
    missing = [f"{places[0]}: {key[1]!r}" + (f" (context {key[0]})" if key[0] else "")
               for key, places in extracted.items() if key not in catalog]
    obsolete = sorted(repr(key) for key in catalog - set(extracted))
    assert missing == [], "missing from the catalog (make catalogs):\n" + "\n".join(missing)
    assert obsolete == [], "in the catalog, in no template:\n" + "\n".join(obsolete)


def test_every_french_msgstr_is_there_not_fuzzy_and_has_the_msgids_placeholders():
    untranslated, fuzzy, placeholders = [], [], []
    for m in _catalog():
        if not m.id:
            continue
        if not m.string:
            untranslated.append(repr(m.id))
        if m.fuzzy:
            fuzzy.append(repr(m.id))
        if set(PLACEHOLDER.findall(m.id)) != set(PLACEHOLDER.findall(m.string)):
            placeholders.append(f"{m.id!r} -> {m.string!r}")
    assert untranslated == [], "untranslated:\n" + "\n".join(untranslated)
    assert fuzzy == [], "fuzzy:\n" + "\n".join(fuzzy)
    assert placeholders == [], "placeholders differ:\n" + "\n".join(placeholders)


def test_no_template_is_kept_per_language_but_the_legal_documents():
    per_language = [p.relative_to(templating.TEMPLATES_DIR).as_posix()
                    for p in templating.TEMPLATES_DIR.rglob("*.j2")
                    if re.search(r"\.(fr|en)\.(html\.)?j2$", p.name)]
    assert per_language and all(p.startswith("legal/") for p in per_language), per_language


@pytest.mark.parametrize("path, context, english, french", [
    ("chat/account/unknown", {}, None, None),
    ("chat/account/delegations", {"rights": {"dupont": ["seal"]}, "roles": {"dupont": "expert"}},
     "dupont (chartered accountant): seal", "dupont (expert-comptable) : sceller"),
    ("sms/signer/code", {"code": "123456", "minutes": 10, "cabinet_name": "Cabinet Dupré"},
     None, None),
    ("smtp/recipient_unknown", {}, None, None),
])
def test_english_is_the_msgids_and_french_the_catalog(path, context, english, french):
    """Rendered in English, a template gives its msgids' own text (no catalog is read)."""
    template = templating.environment("en").get_template(f"{path}.j2")
    source = Path(template.filename).read_text()
    assert "{% trans" in source
    text_en = templating.render(path, "en", **context)
    text_fr = templating.render(path, "fr", **context)
    if english is not None:  # a template with branches: the one taken, exactly
        assert text_en.strip() == english and text_fr.strip() == french
        return
    # A template without branches: each of its msgids (without placeholders) is in the English
    # text word for word, and its French msgstr in the French text.
    strings = {m.id: m.string for m in _catalog() if m.id}
    for key, places in _extracted().items():
        if any(p.startswith(f"templates/{path}.j2:") for p in places) and "%" not in key[1] \
                and key[0] is None:
            assert key[1] in text_en, key[1]
            assert strings[key[1]] in text_fr, strings[key[1]]
    assert templating.translations("en").gettext("Hello") == "Hello"
