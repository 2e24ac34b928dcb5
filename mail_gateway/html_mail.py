"""The HTML part of an outgoing mail, made from its plain-text part (one template per mail).

Webmail shows HTML; the text is what the template says. The HTML is that text, escaped,
in paragraphs, its addresses made links, in a page of inline styles with no remote image
(webmails strip <style> and block remote content). A mail that gives a signer their link
shows it as a button above the text as well.
"""

from __future__ import annotations

import re
from html import escape

from paraphe.templating import render_html

_URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)»]")
# The label of the button of a signer's link, per language.
BUTTON = {"fr": "Ouvrir le document et signer", "en": "Open the document and sign"}
BUTTON_TEMPLATES = ("signer/invitation", "signer/reminder")


def _paragraph(block: str) -> str:
    lines = [_URL.sub(lambda m: f'<a href="{m[0]}" style="color:#1f4e9c">{m[0]}</a>',
                      escape(line, quote=False)) for line in block.split("\n")]
    return "<br>\n".join(lines)


def html_part(template: str, language: str, body: str, context: dict) -> str:
    """The HTML alternative of `body`, the text the mail template `template` gave."""
    text, _, signature = body.rstrip().rpartition("\n-- \n")
    if not text:
        text, signature = body.rstrip(), ""
    paragraphs = [_paragraph(p.strip("\n")) for p in re.split(r"\n\s*\n", text) if p.strip()]
    link = context.get("link") if template in BUTTON_TEMPLATES else None
    return render_html("mail/_layout", language, paragraphs=paragraphs,
                       signature=escape(signature.strip()), button_url=link,
                       button_label=BUTTON.get(language, BUTTON["fr"]))
