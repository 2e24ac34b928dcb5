"""The visible stamp of a signature: where it goes on the page and what it says."""

from __future__ import annotations

from dataclasses import dataclass

from io import BytesIO

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.api import ShapeResult
from pyhanko.pdf_utils.font.basic import COURIER_META, SimpleFontEngine, SimpleFontEngineFactory
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.sign.fields import SigFieldSpec
from pyhanko.stamp import TextStampStyle

# Values only (no words), so the stamp reads the same in every language; a caller that
# wants labels passes its own template, rendered from templates/.
DEFAULT_TEMPLATE = "%(signer)s\n%(ts)s\n%(reason)s"
DEFAULT_BOX = (360.0, 40.0, 560.0, 110.0)


@dataclass(frozen=True)
class StampSpec:
    """A visible stamp: the page (0-based, -1 for the last) and box in PDF points."""

    page: int = 0
    """Page index; negative values count from the end (-1 is the last page)."""
    box: tuple[float, float, float, float] = DEFAULT_BOX
    """Lower-left x, lower-left y, upper-right x, upper-right y."""
    template: str = DEFAULT_TEMPLATE
    """Text with %(signer)s, %(ts)s (signing time) and %(reason)s placeholders."""
    time_format: str = "%d/%m/%Y %H:%M UTC"
    """strftime format of %(ts)s."""


def field_spec(stamp: StampSpec | None, field_name: str, page_count: int) -> SigFieldSpec:
    """The signature field to create: visible on the stamp's page and box, else invisible."""
    if stamp is None:
        return SigFieldSpec(sig_field_name=field_name)
    page = stamp.page if stamp.page >= 0 else page_count + stamp.page
    if not 0 <= page < page_count:
        raise ValueError(f"stamp page {stamp.page} is outside the document's {page_count} pages")
    x1, y1, x2, y2 = (int(round(v)) for v in stamp.box)
    return SigFieldSpec(sig_field_name=field_name, on_page=page, box=(x1, y1, x2, y2))


class WinAnsiFontEngine(SimpleFontEngine):
    """Courier drawn with the bytes its WinAnsiEncoding declares.

    pyHanko's simple engine writes text as a PDF text string (PDFDocEncoding) under a font
    declared WinAnsi, so "–" (0x85 there) showed as "…" (0x85 in WinAnsi). French needs
    only what Windows-1252 has; anything else shows as "?" rather than as another letter.
    """

    def shape(self, txt) -> ShapeResult:
        ops = BytesIO()
        generic.ByteStringObject(txt.encode("cp1252", errors="replace")).write_to_stream(ops)
        ops.write(b" Tj")
        return ShapeResult(graphics_ops=ops.getvalue(), x_advance=len(txt) * self.avg_width,
                           y_advance=0)


class WinAnsiFontFactory(SimpleFontEngineFactory):
    def __init__(self) -> None:
        super().__init__("Courier", 0.6, COURIER_META)

    def create_font_engine(self, writer, obj_stream=None):
        return WinAnsiFontEngine(writer, self.name, self.avg_width, self.meta)


def stamp_style(stamp: StampSpec) -> TextStampStyle:
    """pyHanko's text stamp style for this spec, its text encoded as its font declares."""
    return TextStampStyle(stamp_text=stamp.template, timestamp_format=stamp.time_format,
                          text_box_style=TextBoxStyle(font=WinAnsiFontFactory()))


def text_params(stamp: StampSpec | None, *, signer: str, reason: str | None) -> dict | None:
    """Values substituted in the template (the time is filled in by pyHanko)."""
    if stamp is None:
        return None
    return {"signer": signer, "reason": reason or ""}
