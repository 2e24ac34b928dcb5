"""`paraphe credit add|show`."""

from __future__ import annotations

from dataclasses import asdict

from paraphe.console import CliError, print_json
from workflows import billing, people
from workflows.actors import Actor


def register(sub) -> None:
    parser = sub.add_parser("credit", help="the cabinet's prepaid credit")
    csub = parser.add_subparsers(dest="action", required=True)
    add = csub.add_parser("add", help="add credit to a cabinet")
    add.add_argument("slug")
    add.add_argument("amount")
    add.add_argument("--reference", default="")
    add.set_defaults(handler=add_credit)
    show = csub.add_parser("show", help="balance, reservations and tariffs")
    show.add_argument("slug")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=show_credit)


def _amount(text: str) -> int:
    try:
        amount = int(text)
    except ValueError:
        raise CliError(f"invalid amount {text!r}: a positive whole number") from None
    if amount <= 0:
        raise CliError(f"invalid amount {text!r}: a positive whole number")
    return amount


async def add_credit(args, ctx) -> int:
    amount = _amount(args.amount)
    await ctx.open(services=False)
    cabinet = await people.get_cabinet(args.slug)
    balance = await billing.add_credit(Actor.operator(), cabinet, amount,
                                       reference=args.reference)
    print(f"{amount} credits added to {cabinet.slug}; balance {balance}")
    return 0


async def show_credit(args, ctx) -> int:
    await ctx.open(services=False)
    cabinet = await people.get_cabinet(args.slug)
    summary = await billing.summary(cabinet)
    if args.json:
        print_json(asdict(summary))
    else:
        print(f"{summary.cabinet}: {summary.available} credits available, "
              f"{summary.reserved} reserved")
        print("tariffs: " + ", ".join(f"{k} {v}" for k, v in summary.tariffs.items()))
    return 0
