"""The `paraphe` command line: one module per command group under paraphe/commands/ (the
mail gateway's spool and outbox commands live beside the gateway, `serve` beside the runtime)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from pydantic import ValidationError

import compat
from compat import CompatError
from mail_gateway import dkim_commands, outbox_commands, spool_commands
from paraphe import serve
from paraphe.commands import (
    apikey,
    archive,
    audit,
    cabinets,
    credit,
    delegations,
    demo,
    registration,
    seal,
    terms,
    trust,
    users,
    webhook,
)
from paraphe.console import CliError, Context
from paraphe.settings import load_settings
from workflows.errors import ParapheError

# Each module has register(subparsers); its handlers are async (args, ctx) -> int | None.
COMMAND_MODULES = (serve, demo, cabinets, users, delegations, credit, audit, seal, trust,
                   outbox_commands, spool_commands, dkim_commands, apikey, webhook, registration,
                   terms, archive)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # One line, exit 2, like every other refusal.
        sys.stderr.write(f"paraphe: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="paraphe", description="E-signature and e-sealing for accounting firms")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in COMMAND_MODULES:
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
        # Before any work: a dependency upgraded under an override stops the command here.
        compat.install_all()
        code = asyncio.run(_run(args))
    except CompatError as exc:
        sys.stderr.write(f"paraphe: {exc}\n")
        code = 1
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
    except BrokenPipeError:
        # `paraphe … | head`: the reader is gone. Say nothing more, exit as a pipe writer
        # killed by SIGPIPE would (Python's documented recipe).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 141
    if argv is None:
        raise SystemExit(code)
    return code


if __name__ == "__main__":
    # Run as `python -m paraphe.cli`, this file is loaded twice; use the importable copy so
    # that command modules and main() share one CliError.
    from paraphe.cli import main as _main

    _main()
