"""Every word a person reads comes from templates/, keyed <channel>/<audience>/<name>.j2.

One template per text, its words in {% trans %} blocks (English, the source language); the
French comes from the catalog paraphe/locale/fr/LC_MESSAGES/messages.po, read at start (no
compiled .mo to build or ship). Strings inside expressions are `_("…")`, or `_p("context",
"…")` when one English word has two French ones. The legal documents are the exception: bound
by their hash, they stay one file per language (<path>.<lang>.j2), found first when present.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from workflows import dates

# The core owns where the templates are and which languages they come in (it lists the
# texts of the terms by them); re-exported here for the transports.
from workflows.ports import DEFAULT_LANGUAGE, LANGUAGES, TEMPLATES_DIR

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "LOCALE_DIR", "TEMPLATES_DIR", "render",
           "render_html", "set_timezone", "template_name"]

# The catalogs, one per language other than English: <lang>/LC_MESSAGES/messages.po.
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
SOURCE_LANGUAGE = "en"
# The options of the environment, which babel.cfg repeats for the extraction.
OPTIONS = {"trim_blocks": True, "lstrip_blocks": True, "keep_trailing_newline": True}

# Dates are shown in this zone (PARAPHE_TIMEZONE; `paraphe serve` sets it from the settings).
_zone = {"name": "Europe/Paris"}
# Per language, as people write them: `1 décembre 2026 à 14 h 05`, `1 December 2026 at 14:05`.
MOMENT = {"fr": "d MMMM y 'à' H 'h' mm", "en": "d MMMM y 'at' HH:mm"}
DAY = {"fr": "d MMMM y", "en": "d MMMM y"}


# The product's words for its codes, per language: {{ "seal" | term("delegation") }}.
VOCABULARY = {
    "fr": {
        "delegation": {"sign": "signer", "seal": "sceller", "prepare": "préparer",
                       "launch": "lancer"},
        "role": {"expert": "expert-comptable", "collaborator": "collaborateur"},
        "collection": {"draft": "brouillon", "awaiting_approval": "en attente de validation",
                       "in_progress": "en cours", "completed": "terminée",
                       "cancelled": "annulée", "expired": "expirée", "declined": "refusée"},
        "signer": {"pending": "en attente", "signed": "a signé", "declined": "a refusé",
                   "ended": "clos"},
        "channel": {"mail": "e-mail", "telegram": "Telegram", "web": "web", "api": "API",
                    "cli": "ligne de commande", "sms": "SMS"},
        "revocation": {"good": "valide", "revoked": "révoqué", "unknown": "inconnu"},
        "ledger": {"credit": "crédit", "debit": "débit", "reserve": "réservation",
                   "capture": "prélèvement", "release": "libération"},
        "operation": {"seal": "cachet", "signature": "signature"},
        "webhook": {"delivered": "remis", "retry": "nouvel essai prévu",
                    "gave_up": "abandonné"},
    },
    "en": {
        "delegation": {"sign": "sign", "seal": "seal", "prepare": "prepare",
                       "launch": "launch"},
        "role": {"expert": "chartered accountant", "collaborator": "collaborator"},
        "collection": {"draft": "draft", "awaiting_approval": "awaiting approval",
                       "in_progress": "in progress", "completed": "completed",
                       "cancelled": "cancelled", "expired": "expired", "declined": "declined"},
        "signer": {"pending": "pending", "signed": "signed", "declined": "declined",
                   "ended": "closed"},
        "channel": {"mail": "e-mail", "telegram": "Telegram", "web": "web", "api": "API",
                    "cli": "command line", "sms": "SMS"},
        "revocation": {"good": "valid", "revoked": "revoked", "unknown": "unknown"},
        "ledger": {"credit": "credit", "debit": "debit", "reserve": "reservation",
                   "capture": "capture", "release": "release"},
        "operation": {"seal": "seal", "signature": "signature"},
        "webhook": {"delivered": "delivered", "retry": "retry scheduled",
                    "gave_up": "given up"},
    },
}


@jinja2.pass_context
def _term(context, value, kind: str) -> str:
    """The word for a code of `kind` in the template's language; a list gives a list."""
    words = VOCABULARY.get(_language(context), VOCABULARY["fr"])[kind]
    if isinstance(value, list | tuple):
        return [words.get(v, v) for v in value]
    return words.get(value, value)


def set_timezone(name: str) -> None:
    ZoneInfo(name)  # An unknown zone fails here, at start, not in a mail.
    _zone["name"] = name


def _language(context: jinja2.runtime.Context) -> str:
    """The language of the environment rendering the template."""
    return context.environment.globals["language"]


@jinja2.pass_context
def _moment(context, value) -> str:
    language = _language(context)
    return _local(value, MOMENT.get(language, MOMENT["fr"]), language)


@jinja2.pass_context
def _day(context, value) -> str:
    language = _language(context)
    return _local(value, DAY.get(language, DAY["fr"]), language)


def _local(value, pattern: str, language: str) -> str:
    """The date in words; a text that is not a date (a notification recorded by an earlier
    version, with the date already written out) is shown as it is."""
    try:
        return dates.local(value, pattern, language, _zone["name"])
    except (TypeError, ValueError):
        return str(value)


@cache
def translations(language: str) -> NullTranslations:
    """The catalog of `language`, compiled in memory; English is the msgids themselves."""
    po = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if language == SOURCE_LANGUAGE or not po.is_file():
        return NullTranslations()
    with po.open("rb") as f:
        catalog = read_po(f, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled)


@cache
def environment(language: str = DEFAULT_LANGUAGE) -> jinja2.Environment:
    """The environment of one language, its translations installed (one per language, kept)."""
    language = language if language in LANGUAGES else DEFAULT_LANGUAGE
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",),
                                            default_for_string=False),
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        **OPTIONS,
    )
    found = translations(language)
    env.install_gettext_translations(found, newstyle=True)
    # _("…") and _p("context", "…") in expressions: plain strings, escaped on output like any
    # other (only the {% trans %} blocks are template text).
    env.globals.update(_=found.gettext, _p=found.pgettext, language=language)
    # {{ at | moment }}: date and time in the service's zone; {{ at | day }}: the date alone.
    env.filters.update(moment=_moment, day=_day, term=_term)
    return env


def template_name(path: str, language: str, suffix: str = "j2") -> str:
    """The file for `path`: its copy in `language` for the documents kept per language (legal),
    else the one template whose words the catalogs translate."""
    language = language if language in LANGUAGES else DEFAULT_LANGUAGE
    for candidate in (f"{path}.{language}.{suffix}", f"{path}.{DEFAULT_LANGUAGE}.{suffix}"):
        if (TEMPLATES_DIR / candidate).exists():
            return candidate
    return f"{path}.{suffix}"


def render(path: str, language: str, **context) -> str:
    """Renders templates/<path>.j2 in `language` (e.g. "mail/sender/sealed")."""
    return environment(language).get_template(template_name(path, language)).render(**context)


def render_html(path: str, language: str, **context) -> str:
    """Renders templates/<path>.html.j2 in `language` with HTML autoescaping."""
    return environment(language).get_template(
        template_name(path, language, "html.j2")).render(**context)
