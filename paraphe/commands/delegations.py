"""`paraphe delegation grant|revoke`."""

from __future__ import annotations

from workflows import delegations, people
from workflows.actors import Actor


def register(sub) -> None:
    parser = sub.add_parser("delegation", help="grant or revoke a collaborator's delegation")
    dsub = parser.add_subparsers(dest="action", required=True)
    for verb in ("grant", "revoke"):
        p = dsub.add_parser(verb, help=f"{verb} sign, seal, prepare or launch")
        p.add_argument("email")
        p.add_argument("--cabinet", required=True)
        p.add_argument("delegation")
        p.set_defaults(handler=change_delegation, verb=verb)


async def change_delegation(args, ctx) -> int:
    delegations.check_action(args.delegation)
    await ctx.open(services=False)
    person = await people.get_person(args.email)
    cabinet = await people.get_cabinet(args.cabinet)
    change = delegations.grant if args.verb == "grant" else delegations.revoke
    changed = await change(Actor.operator(), person, cabinet, args.delegation)
    if args.verb == "grant":
        state = "granted" if changed else "already held"
    else:
        state = "revoked" if changed else "was not held"
    print(f"{args.delegation} for {person.email} in {cabinet.slug}: {state}")
    return 0
