"""Every word a person reads comes from templates/, keyed <channel>/<audience>/<name>.<lang>.j2."""

from __future__ import annotations

from functools import lru_cache

import jinja2

# The core owns where the templates are and which languages they come in (it lists the
# texts of the terms by them); re-exported here for the transports.
from workflows.ports import DEFAULT_LANGUAGE, LANGUAGES, TEMPLATES_DIR

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "TEMPLATES_DIR", "render", "render_html",
           "template_name"]


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",),
                                            default_for_string=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


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
