"""Every word a person reads comes from templates/, keyed <channel>/<audience>/<name>.<lang>.j2."""

from __future__ import annotations

import re
from functools import lru_cache
from zoneinfo import ZoneInfo

import jinja2

from workflows import dates

# The core owns where the templates are and which languages they come in (it lists the
# texts of the terms by them); re-exported here for the transports.
from workflows.ports import DEFAULT_LANGUAGE, LANGUAGES, TEMPLATES_DIR

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "TEMPLATES_DIR", "render", "render_html",
           "set_timezone", "template_name"]

# Dates are shown in this zone (PARAPHE_TIMEZONE; `paraphe serve` sets it from the settings).
_zone = {"name": "Europe/Paris"}
# Per language, as people write them: `1 décembre 2026 à 14 h 05`, `1 December 2026 at 14:05`.
MOMENT = {"fr": "d MMMM y 'à' H 'h' mm", "en": "d MMMM y 'at' HH:mm"}
DAY = {"fr": "d MMMM y", "en": "d MMMM y"}
_LANGUAGE_OF_FILE = re.compile(r"\.([a-z]{2})\.(?:html\.)?j2$")


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
    """The language of the template being rendered, read from its file name."""
    found = _LANGUAGE_OF_FILE.search(context.name or "")
    return found[1] if found and found[1] in LANGUAGES else DEFAULT_LANGUAGE


@jinja2.pass_context
def _moment(context, value) -> str:
    language = _language(context)
    return dates.local(value, MOMENT.get(language, MOMENT["fr"]), language, _zone["name"])


@jinja2.pass_context
def _day(context, value) -> str:
    language = _language(context)
    return dates.local(value, DAY.get(language, DAY["fr"]), language, _zone["name"])


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",),
                                            default_for_string=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    # {{ at | moment }}: date and time in the service's zone; {{ at | day }}: the date alone.
    env.filters.update(moment=_moment, day=_day, term=_term)
    return env


def template_name(path: str, language: str, suffix: str = "j2") -> str:
    """The file for `path` in `language`, falling back to French when there is no translation."""
    language = language if language in LANGUAGES else DEFAULT_LANGUAGE
    candidate = f"{path}.{language}.{suffix}"
    if (TEMPLATES_DIR / candidate).exists():
        return candidate
    return f"{path}.{DEFAULT_LANGUAGE}.{suffix}"


def render(path: str, language: str, **context) -> str:
    """Renders templates/<path>.<language>.j2 (e.g. "mail/sender/sealed")."""
    return environment().get_template(template_name(path, language)).render(**context)


def render_html(path: str, language: str, **context) -> str:
    """Renders templates/<path>.<language>.html.j2 with HTML autoescaping."""
    return environment().get_template(template_name(path, language, "html.j2")).render(**context)
