"""What every command of the `paraphe` command line shares: its error, its context, JSON output.

Apart from paraphe.cli, so that the command modules (paraphe/commands/ and the mail
gateway's spool and outbox commands) import it without importing the parser that lists them.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from paraphe import templating


class CliError(Exception):
    """A one-line reason printed to standard error, with exit status 2."""


class Context:
    """What a command handler gets: settings, and the database and services on demand."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.services = None
        self.opened = False

    async def open(self, *, services: bool = True):
        from paraphe.db import open_database
        from workflows.services import Services

        templating.set_timezone(self.settings.timezone)
        await open_database(self.settings)
        self.opened = True
        if services:
            self.services = await Services.start(self.settings, templating)
        return self.services

    async def close(self) -> None:
        from paraphe.db import close_database

        if self.services is not None:
            await self.services.close()
        if self.opened:
            await close_database()


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")
