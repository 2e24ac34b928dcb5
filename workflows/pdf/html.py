"""HTML to PDF/A-3b (WeasyPrint), with files attached as associated files; run in a worker."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AssociatedFile:
    """A file embedded in the PDF and named in the catalog's /AF (PDF/A-3)."""

    name: str
    data: bytes
    description: str
    relationship: str = "Data"
    """ISO 32000-2 AFRelationship: Data, Source, Alternative, Supplement…"""


def render_pdfa(html: str, files: tuple[AssociatedFile, ...] = (), title: str = "", *,
                identifier: bytes | None = None) -> bytes:
    """The PDF/A-3b rendering of `html` (no remote resources are fetched)."""
    # lazy: WeasyPrint (with pango) takes over a second to import; only the signing
    # workers that lay out a report load it.
    from weasyprint import HTML, Attachment

    attachments = [Attachment(string=f.data, name=f.name, description=f.description,
                              relationship=f.relationship) for f in files]
    document = HTML(string=html, url_fetcher=_no_fetch).render()
    if title:
        document.metadata.title = title
    return document.write_pdf(pdf_variant="pdf/a-3b", attachments=attachments,
                              pdf_identifier=identifier)


def _no_fetch(url: str, *args, **kwargs):
    # Everything the certificate shows is in its HTML; a URL in data must not reach out.
    raise ValueError(f"no remote resource in a rendered report: {url[:80]}")
