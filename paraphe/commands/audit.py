"""`paraphe audit verify`: walks the evidence log's hash chain."""

from __future__ import annotations

from workflows import evidence


def register(sub) -> None:
    parser = sub.add_parser("audit", help="the evidence log")
    asub = parser.add_subparsers(dest="action", required=True)
    verify = asub.add_parser("verify", help="check the whole hash chain")
    verify.set_defaults(handler=verify_chain)


async def verify_chain(args, ctx) -> int:
    await ctx.open(services=False)
    report = await evidence.verify_chain()
    if report.ok:
        print(f"evidence chain intact: {report.events} events")
        return 0
    where = f"event {report.broken_seq}" + (f" (id {report.broken_id})" if report.broken_id else "")
    print(f"evidence chain BROKEN at {where}: {report.reason}")
    return 1
