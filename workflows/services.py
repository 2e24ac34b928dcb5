"""The services a use case needs besides the database, built once by the runtime."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from paraphe.settings import Settings
from workflows.documents import DocumentStore

if TYPE_CHECKING:
    from workflows.trust.ca import TrustService


@dataclass
class Services:
    settings: Settings
    documents: DocumentStore
    trust: "TrustService | Any" = None

    @classmethod
    async def start(cls, settings: Settings) -> "Services":
        """Builds the services on an open database; creates the trust service on first start."""
        documents = DocumentStore(settings.home / "documents")
        trust = None
        try:
            from workflows.trust.ca import TrustService
        except ImportError:  # The trust service lands with its own issue.
            TrustService = None  # noqa: N806
        if TrustService is not None:
            trust = await TrustService.open(settings)
        return cls(settings=settings, documents=documents, trust=trust)
