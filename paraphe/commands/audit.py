"""`paraphe audit verify`: walks the evidence log's hash chain and checks it against its timestamp
anchors."""

from __future__ import annotations

from workflows import anchors


def register(sub) -> None:
    parser = sub.add_parser("audit", help="the evidence log")
    asub = parser.add_subparsers(dest="action", required=True)
    verify = asub.add_parser("verify", help="check the whole hash chain and its timestamp anchors")
    verify.set_defaults(handler=verify_chain)


async def verify_chain(args, ctx) -> int:
    await ctx.open(services=False)
    report = await anchors.verify_chain()
    if report.ok:
        print(f"evidence chain intact: {report.events} events, {report.anchors} timestamp "
              f"anchor(s) verified")
        return 0
    where = f"event {report.broken_seq}" + (f" (id {report.broken_id})" if report.broken_id else "")
    print(f"evidence chain BROKEN at {where}: {report.reason}")
    return 1
