"""`paraphe cabinet add` and `paraphe cabinet siren`."""

from __future__ import annotations

from paraphe.console import print_json
from workflows import people
from workflows.actors import Actor


def register(sub) -> None:
    cabinet = sub.add_parser("cabinet", help="cabinets (accounting firms)")
    csub = cabinet.add_subparsers(dest="action", required=True)
    add = csub.add_parser("add", help="create a cabinet with its seal certificate")
    add.add_argument("slug")
    add.add_argument("--name", required=True)
    add.add_argument("--siren", help="nine digits (Luhn-checked); the seal names it")
    add.add_argument("--json", action="store_true")
    add.set_defaults(handler=add_cabinet)
    siren = csub.add_parser("siren", help="set or correct a cabinet's SIREN")
    siren.add_argument("slug")
    siren.add_argument("siren")
    siren.add_argument("--json", action="store_true")
    siren.set_defaults(handler=set_siren)


def _seal_line(cert) -> str:
    if cert is None:
        # EN 319 412-3: a legal person's seal names its registration number.
        return "No seal certificate until the cabinet has a SIREN: paraphe cabinet siren SLUG N"
    return f"Seal certificate: {cert.subject} (serial {cert.serial})"


async def add_cabinet(args, ctx) -> int:
    svc = await ctx.open()
    cab = await people.create_cabinet(Actor.operator(), slug=args.slug, name=args.name,
                                      siren=args.siren)
    cert = await svc.trust.seal_certificate_for(cab) if cab.siren else None
    if args.json:
        print_json({"slug": cab.slug, "name": cab.name, "siren": cab.siren,
                    "seal_certificate": cert and {"serial": cert.serial,
                                                  "subject": cert.subject},
                    "terms_accepted": False})
    else:
        print(f"Cabinet {cab.slug} created: {cab.name}"
              + (f" (SIREN {cab.siren})" if cab.siren else ""))
        print(_seal_line(cert).replace("SLUG", cab.slug))
        # Creating a cabinet accepts nothing on anyone's behalf: say what opens it.
        print(f"Closed until its expert accepts the terms of use: /terms in Telegram, or "
              f"paraphe terms accept {cab.slug} --email EXPERT_EMAIL")
    return 0


async def set_siren(args, ctx) -> int:
    svc = await ctx.open()
    cab = await people.set_cabinet_siren(Actor.operator(), await people.get_cabinet(args.slug),
                                         args.siren)
    cert = await svc.trust.seal_certificate_for(cab)
    if args.json:
        print_json({"slug": cab.slug, "siren": cab.siren,
                    "seal_certificate": {"serial": cert.serial, "subject": cert.subject}})
    else:
        print(f"Cabinet {cab.slug}: SIREN {cab.siren}")
        print(_seal_line(cert))
    return 0
