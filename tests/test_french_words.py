"""Every French template, rendered, names states, delegations, roles, channels and revocation
statuses in French: a code such as `in_progress`, `seal` or `good` printed as it is fails.

Each template is rendered with probe values: any name or attribute it reads gives a probe
that prints as a French name, iterates as two items and answers to any attribute, except the
codes (a state, a channel, delegations…), which are the English codes themselves, and dates
and numbers. The templates are rendered twice, every probe true then every probe false (an
error absent, lists not empty), so that both sides of most conditions are read.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import jinja2
import pytest

from paraphe import templating

DATE = datetime(2026, 12, 1, 13, 5, tzinfo=UTC)
# The codes a template may print, in English in the data, each with a value that has a
# French word different from the English one.
CODES = {"state": "awaiting_approval", "channel": "cli", "role": "collaborator",
         "action": "prepare", "actions": ["seal", "launch"],
         "revocation": "good", "delegation": "seal", "operation": "seal", "outcome": "gave_up",
         "document_type": "passport"}
SIGNER_CODES = {"state": "pending"}
# Read with `is defined`: absent when every probe is false, so the other branch is read.
OPTIONAL = {"error"}
DATES = re.compile(r"(_at|^at|until|expires|date|deadline|since|not_before|not_after)$")
NUMBERS = re.compile(r"(^|_)(count|credit_left|balance|price|amount|id|attempts|pages|size|number|"
                     r"total|units|left|remaining|tries|days|minutes|hours|position|index|n|"
                     r"more_signers|serial|seq)$")
# What a template needs that a probe cannot be: functions, and values used as dict keys.
OVERRIDES = {
    "reports/collection/certificate": {"local": lambda value, pattern: "1 décembre 2026",
                                       "utc": str, "number": str, "lang": "fr",
                                       "zone": "Europe/Paris"},
    "web/cabinet/cabinet": {"done": "invited"},
    "web/registration/page": {"document_types": ["id_card", "passport", "driving_licence"]},
    "web/cabinet/collections": {"done": "approve"},
}
# Pages made of sections, one rendered per value: each section's words are read.
VARIANTS = {
    "web/cabinet/cabinet": ("section", ("overview", "members", "terms", "credit", "keys",
                                        "seals", "webhooks")),
    "web/registration/page": ("step", ("start", "name", "siren", "mobile", "mobile_code",
                                       "document_type", "identity", "front", "policies",
                                       "agreement", "submit", "review", "done")),
}
ENGLISH = re.compile(
    r"(?<![\w/@+\-.\"'=])(awaiting[ _]approval|in[ _]progress|completed|cancelled|expired|"
    r"declined|pending|signed|prepare|launch|seal|sign|command line|collaborator|revoked|"
    r"good|gave_up)(?![\w@+\-.\"'=])")
# Files that are not texts of their own: layouts, macros, and the versioned legal documents.
NOT_TEXTS = ("legal/", "terms/")


def _sample(name: str, parent: str, truthy: bool):
    if "signer" in parent and name in SIGNER_CODES:
        return SIGNER_CODES[name]
    if name in CODES:
        return CODES[name]
    if DATES.search(name):
        return DATE
    if NUMBERS.search(name):
        return 3
    return Probe(name, truthy)


class Probe:
    def __init__(self, name: str, truthy: bool) -> None:
        self._name, self._truthy = name, truthy

    def __getattr__(self, attr: str):
        if attr.startswith("__") or (attr in OPTIONAL and not self._truthy):
            raise AttributeError(attr)
        return _sample(attr, self._name, self._truthy)

    def __getitem__(self, key):
        if not isinstance(key, str):
            return Probe(self._name, self._truthy)
        if key in OPTIONAL and not self._truthy:
            raise KeyError(key)
        return _sample(key, self._name, self._truthy)

    def get(self, key, default=None):
        return default if key in OPTIONAL and not self._truthy else self[key]

    def __iter__(self):
        return iter([Probe(self._name, self._truthy), Probe(self._name, self._truthy)])

    def __len__(self) -> int:
        return 2

    def __str__(self) -> str:
        return "Zoé Martin"

    def __html__(self) -> str:
        return "Zoé Martin"

    def __bool__(self) -> bool:
        # Lists (plural names) are never empty: what is inside them is read in both passes.
        return self._truthy or self._name.endswith("s")

    def __call__(self, *args, **kwargs):
        return Probe(self._name, self._truthy)

    def __eq__(self, other) -> bool:
        return False

    def __hash__(self) -> int:
        return id(self)

    def __lt__(self, other) -> bool:
        return False

    __gt__ = __le__ = __ge__ = __lt__

    def __int__(self) -> int:
        return 3

    def __contains__(self, item) -> bool:
        return False


def _texts() -> list[tuple[str, str]]:
    """(path, suffix) of every text a person reads, without its language."""
    found = set()
    for file in templating.TEMPLATES_DIR.rglob("*.j2"):
        rel = file.relative_to(templating.TEMPLATES_DIR).as_posix()
        if rel.startswith(NOT_TEXTS) or file.name.startswith("_"):
            continue
        suffix = "html.j2" if rel.endswith(".html.j2") else "j2"
        path = re.sub(r"(\.(fr|en))?\.(html\.)?j2$", "", rel)
        found.add((path, suffix))
    return sorted(found)


def _renders(path: str, suffix: str, truthy: bool) -> list[str]:
    """The template rendered once, or once per value of its VARIANTS."""
    if path not in VARIANTS:
        return [_render(path, suffix, truthy)]
    name, values = VARIANTS[path]
    return [_render(path, suffix, truthy, {name: value}) for value in values]


def _render(path: str, suffix: str, truthy: bool, extra: dict | None = None) -> str:
    render = templating.render_html if suffix == "html.j2" else templating.render
    context = {**OVERRIDES.get(path, {}), **(extra or {})}
    for _ in range(40):
        try:
            return render(path, "fr", **context)
        except jinja2.UndefinedError as exc:
            missing = re.match(r"'(\w+)' is undefined", str(exc))
            if not missing:
                raise
            context[missing[1]] = _sample(missing[1], "", truthy)
    raise AssertionError(f"{path}: too many undefined names")


def test_every_text_is_found():
    paths = {p for p, _ in _texts()}
    assert {"mail/signer/invitation", "chat/collections/status_one", "web/signer/page",
            "reports/collection/certificate", "smtp/recipient_unknown"} <= paths
    assert len(paths) > 150


@pytest.mark.parametrize("truthy", [True, False], ids=["conditions-true", "conditions-false"])
def test_no_french_text_prints_an_english_code(truthy):
    english = []
    for path, suffix in _texts():
        text = re.sub(r"<[^>]+>", " ", "\n".join(_renders(path, suffix, truthy)))
        english += [f"{path}: …{text[max(0, m.start() - 40):m.end() + 10]!r}"
                    for m in ENGLISH.finditer(text)]
    assert not english, "\n".join(english)
