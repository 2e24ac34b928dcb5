"""The services a use case needs besides the database, built once by the runtime."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paraphe.settings import Settings
from workflows.documents import DocumentStore


@dataclass
class Services:
    settings: Settings
    documents: DocumentStore
    trust: Any = None  # workflows.trust.ca.TrustService
    engine: Any = None  # workflows.pdf.engine.SigningEngine
    # The renderer of templates/: `render(path, language, **ctx)` and `render_html(...)`
    # (paraphe.templating), given by whoever builds the services.
    templates: Any = None
    # The Telegram bot's @username (deep links); set by the bot when it starts.
    telegram_username: str | None = None

    @classmethod
    async def start(cls, settings: Settings) -> "Services":
        """Builds the services on an open database; creates the trust service on first start."""
        from paraphe import templating
        from workflows.pdf.engine import SigningEngine
        from workflows.trust.ca import TrustService

        documents = DocumentStore(settings.home / "documents")
        trust = await TrustService.open(settings)
        return cls(settings=settings, documents=documents, trust=trust,
                   engine=SigningEngine(settings), templates=templating,
                   telegram_username=settings.telegram_bot_username)

    async def close(self) -> None:
        if self.engine is not None:
            result = self.engine.close()
            if hasattr(result, "__await__"):
                await result
