"""The `paraphe` command line: one module per command group under paraphe/commands/."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
from typing import Any

from pydantic import ValidationError

from paraphe import templating
from paraphe.settings import load_settings
from workflows.errors import ParapheError

# Each module has register(subparsers); its handlers are async (args, ctx) -> int | None.
COMMAND_MODULES = (
    "paraphe.commands.serve",
    "paraphe.commands.demo",
    "paraphe.commands.cabinets",
    "paraphe.commands.users",
    "paraphe.commands.delegations",
    "paraphe.commands.credit",
    "paraphe.commands.audit",
    "paraphe.commands.seal",
    "paraphe.commands.trust",
    "paraphe.commands.outbox",
    "paraphe.commands.spool",
    "paraphe.commands.apikey",
    "paraphe.commands.webhook",
    "paraphe.commands.registration",
    "paraphe.commands.terms",
    "paraphe.commands.archive",
)


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


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # One line, exit 2, like every other refusal.
        sys.stderr.write(f"paraphe: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="paraphe", description="E-signature and e-sealing for accounting firms")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # That command group has not landed yet.
                continue
            raise
        module.register(sub)
    return parser


async def _run(args) -> int:
    ctx = Context(load_settings())
    try:
        result = await args.handler(args, ctx)
    finally:
        await ctx.close()
    return int(result or 0)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = asyncio.run(_run(args))
    except CliError as exc:
        sys.stderr.write(f"paraphe: {exc}\n")
        code = 2
    except ParapheError as exc:
        sys.stderr.write(f"paraphe: {exc.message} ({exc.code})\n")
        code = 1
    except ValidationError as exc:
        # A setting from the environment or paraphe.toml: name it and say why, on one line.
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"])
        sys.stderr.write(f"paraphe: invalid setting {name} "
                         f"(PARAPHE_{name.upper()}): {first['msg']}\n")
        code = 2
    except KeyboardInterrupt:
        code = 130
    if argv is None:
        raise SystemExit(code)
    return code


if __name__ == "__main__":
    # Run as `python -m paraphe.cli`, this file is loaded twice; use the importable copy so
    # that command modules and main() share one CliError.
    from paraphe.cli import main as _main

    _main()
