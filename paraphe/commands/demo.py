"""`paraphe demo`: a demo cabinet, an expert and a collaborator with credit; safe to run twice."""

from __future__ import annotations

from paraphe.commands.users import describe
from workflows import apikeys, billing, delegations, mail_in, people, terms
from workflows.actors import Actor
from workflows.models import Cabinet, Membership, Person

SLUG = "cabinet-demo"
NAME = "Cabinet Démo Expertise"
# Made up, but its Luhn check digit holds, as every SIREN's does (python-stdnum checks it).
SIREN = "123456782"
EXPERT = ("expert@demo.paraphe.localhost", "Claire Expert")
COLLABORATOR = ("collab@demo.paraphe.localhost", "Paul Collaborateur")
CREDIT = 100


def register(sub) -> None:
    parser = sub.add_parser("demo", help="create a demo cabinet and people, and show what to try")
    parser.set_defaults(handler=demo)


async def _member(actor, email, name, role) -> Person:
    person = await people.find_person_by_email(email)
    if person is None or not await Membership.exists(person=person, cabinet__slug=SLUG):
        person, _ = await people.add_person(actor, email=email, name=name, cabinet=SLUG, role=role)
    return person


async def demo(args, ctx) -> int:
    svc = await ctx.open()
    actor = Actor.operator(command="demo")
    cabinet = await Cabinet.get_or_none(slug=SLUG)
    created = cabinet is None
    if created:
        cabinet = await people.create_cabinet(actor, slug=SLUG, name=NAME, siren=SIREN)
    elif cabinet.siren != SIREN:
        # Made by an earlier version with a SIREN that fails the Luhn check.
        cabinet = await people.set_cabinet_siren(actor, cabinet, SIREN)
    await svc.trust.seal_certificate_for(cabinet)
    expert = await _member(actor, *EXPERT, "expert")
    collaborator = await _member(actor, *COLLABORATOR, "collaborator")
    for action in ("seal", "prepare"):
        await delegations.grant(actor, collaborator, cabinet, action)
    if created:
        await billing.add_credit(actor, cabinet, CREDIT, reference="demo")
    # The demo expert is a made-up person: the demo accepts the terms as them, so that every
    # flow can be tried at once. A real cabinet's expert accepts them themselves.
    accepted = await terms.accept_terms(svc, Actor(expert.id, "cli", {"command": "demo"}),
                                        cabinet, terms.current_version(ctx.settings))
    s = ctx.settings
    e, c = await describe(expert, s), await describe(collaborator, s)
    print(f"{'Created' if created else 'Already there'}: cabinet {SLUG} ({NAME}), "
          f"{await billing.balance(cabinet)} credits, terms {accepted.version} accepted by "
          f"{accepted.accepted_by}")
    for who, info in (("expert", e), ("collaborator", c)):
        rights = ", ".join(info["cabinets"][0]["delegations"])
        print(f"  {who}: {info['name']} <{info['email']}> may {rights}")
        print(f"    secret mail-in address: {info['mail_in_address']}")
        print(f"    Telegram: {info['telegram']['start_command']}")
        if info["registration"]["link"]:
            print(f"    registration (to sign in their own name): {info['registration']['link']}")
    key = await apikeys.create_key(actor, cabinet=SLUG, email=EXPERT[0], name="Démo (curl)")
    collect = mail_in.address_for(s, collaborator, command="collect")
    print()
    print("Try it (with `paraphe serve` running):")
    print(f"  seal a PDF from the command line: paraphe seal --cabinet {SLUG} in.pdf -o out.pdf")
    print("  check it: paraphe verify out.pdf")
    print(f"  seal by mail: send a PDF from {c['email']} to {c['mail_in_address']} "
          f"(SMTP {s.smtp_host}:{s.smtp_port}); the reply lands in {s.home / 'outbox'} "
          "(paraphe outbox)")
    print(f"  collect signatures by mail: send a PDF to {collect} with one signer per line "
          "in the body (Name <e-mail>); the expert's approval request arrives in the outbox: "
          "answer it OK (to its Reply-To) and the signers' invitations follow")
    print("  sign as a client: open the /s/… link of an invitation in the outbox; the "
          "one-time code arrives there too")
    print(f"  the API, with a key made for the expert now (shown once): {key.token}")
    print(f"    curl -H 'Authorization: Bearer {key.token}' {s.public_url}/api/v1/credit")
    print("  sign in your own name: the expert registers with /register in the bot, then "
          "paraphe registration list / approve N issues their certificate")
    print(f"  trust anchor: paraphe trust root > root.pem; health: {s.public_url}/healthz")
    return 0
