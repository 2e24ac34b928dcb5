"""`paraphe terms show|accept`: the terms of use (CGU) and their acceptance per cabinet."""

from __future__ import annotations

from dataclasses import asdict

from paraphe.console import CliError, print_json
from workflows import people, terms
from workflows.actors import Actor


def register(sub) -> None:
    parser = sub.add_parser("terms", help="the terms of use and their acceptance per cabinet")
    tsub = parser.add_subparsers(dest="action", required=True)
    show = tsub.add_parser("show", help="the current version and which cabinets accepted it")
    show.add_argument("--text", choices=("fr", "en"), default=None,
                      help="print the text of the current terms in this language")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=show_terms)
    accept = tsub.add_parser("accept", help="record that the cabinet's expert accepts the "
                                            "current terms")
    accept.add_argument("slug")
    accept.add_argument("--email", required=True, help="the e-mail of the cabinet's expert")
    accept.add_argument("--version", default=None,
                        help="the version the expert read (default: the current one)")
    accept.set_defaults(handler=accept_terms)


async def show_terms(args, ctx) -> int:
    version = terms.current_version(ctx.settings)
    if not terms.known_version(ctx.settings, version):
        raise CliError(f"no text for terms version {version!r} (cgu.{version}.fr.md and .en.md)")
    if args.text and not args.json:
        print(terms.text(ctx.settings, version, args.text), end="")
        return 0
    await ctx.open(services=False)
    cabinets = await terms.status(ctx.settings)
    if args.json:
        data = {"version": version, "sha256": terms.sha256(ctx.settings, version),
                "cabinets": [asdict(c) for c in cabinets]}
        if args.text:
            data["text"] = terms.text(ctx.settings, version, args.text)
        print_json(data)
        return 0
    digest = terms.sha256(ctx.settings, version)["fr"]
    print(f"terms of use, version {version} (sha256 of the French text {digest})")
    for c in cabinets:
        state = (f"accepted by {c.accepted_by} on {c.accepted_at:%Y-%m-%d %H:%M} UTC"
                 if c.accepted else "NOT accepted: seals, signatures and collections refused")
        print(f"  {c.slug}: {state}")
    return 0


async def accept_terms(args, ctx) -> int:
    await ctx.open(services=False)
    cabinet = await people.get_cabinet(args.slug)
    person = await people.get_person(args.email)
    version = args.version or terms.current_version(ctx.settings)
    done = await terms.accept_terms(ctx.settings, Actor.operator(command="terms accept"),
                                    cabinet, version, person=person)
    if done.already:
        print(f"{done.cabinet}: terms {done.version} already accepted by {done.accepted_by} "
              f"on {done.accepted_at:%Y-%m-%d %H:%M} UTC")
    else:
        print(f"{done.cabinet}: terms {done.version} accepted by {done.accepted_by}")
    return 0
