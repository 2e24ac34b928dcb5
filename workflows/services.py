"""The services a use case needs besides the database, built once by the runtime."""

from __future__ import annotations

from dataclasses import dataclass

from workflows.document_stores import open_document_store
from workflows.documents import DocumentStore
from workflows.pdf.engine import SigningEngine
from workflows.ports import CoreSettings, Engine, Templates, Trust
from workflows.trust.ca import TrustService


@dataclass
class Services:
    settings: CoreSettings
    documents: DocumentStore
    # The renderer of templates/ (paraphe.templating), passed by the wiring: the core
    # does not import paraphe.
    templates: Templates
    trust: Trust
    engine: Engine
    # The Telegram bot's @username (deep links); set by the bot when it starts.
    telegram_username: str | None = None

    @classmethod
    async def start(cls, settings: CoreSettings, templates: Templates) -> Services:
        """Builds the services on an open database; creates the trust service on first start."""
        documents = open_document_store(settings)
        await documents.publish_local()
        trust = await TrustService.open(settings)
        return cls(settings=settings, documents=documents, templates=templates, trust=trust,
                   engine=SigningEngine(settings),
                   telegram_username=settings.telegram_bot_username)

    async def close(self) -> None:
        result = self.engine.close()
        if hasattr(result, "__await__"):  # A test's fake engine may close asynchronously.
            await result
