"""`paraphe user add` and `paraphe user show`."""

from __future__ import annotations

from paraphe.console import print_json
from workflows import delegations, mail_in, people
from workflows.actors import Actor


def register(sub) -> None:
    user = sub.add_parser("user", help="people and their memberships")
    usub = user.add_subparsers(dest="action", required=True)
    add = usub.add_parser("add", help="add a person, or their membership of one more cabinet")
    add.add_argument("email")
    add.add_argument("--name", required=True)
    add.add_argument("--cabinet", required=True)
    add.add_argument("--role", required=True, choices=["expert", "collaborator"])
    add.add_argument("--phone")
    add.add_argument("--language", default="fr", choices=["fr", "en"])
    add.set_defaults(handler=add_user)
    show = usub.add_parser("show", help="a person, their cabinets, delegations and addresses")
    show.add_argument("email")
    show.add_argument("--json", action="store_true")
    show.add_argument("--new-link-code", action="store_true",
                      help="issue a new Telegram link code (the previous one stops working)")
    show.set_defaults(handler=show_user)


async def add_user(args, ctx) -> int:
    await ctx.open(services=False)
    person, membership = await people.add_person(
        Actor.operator(), email=args.email, name=args.name, cabinet=args.cabinet,
        role=args.role, phone=args.phone, language=args.language)
    print(f"{person.email} ({person.name}) is now {membership.role} of {args.cabinet}")
    return 0


async def describe(person, settings, *, new_link_code: bool = False) -> dict:
    """What `user show` prints: the person, their cabinets, rights and private addresses."""
    from workflows.linking import issue_link_code, link_code_for

    memberships = await people.memberships_of(person)
    link = None
    if not person.telegram_user_id:
        link = await (issue_link_code(person) if new_link_code else link_code_for(person))
    code = link.code if link else None
    username = settings.telegram_bot_username
    rights = await delegations.rights_of(person)
    return {
        "email": person.email,
        "name": person.name,
        "phone": person.phone,
        "language": person.language,
        "cabinets": [{"slug": m.cabinet.slug, "name": m.cabinet.name, "role": m.role,
                      "delegations": rights.get(m.cabinet.slug, [])} for m in memberships],
        "mail_in_address": mail_in.address_for(settings, person),
        "telegram": {"linked": person.telegram_user_id is not None,
                     "link_code": code,
                     "start_command": f"/start {code}" if code else None,
                     "deep_link": link.deep_link(username) if link and username else None,
                     "link_expires_at": link.expires_at.isoformat() if link else None},
        "registration": await _registration(person, settings),
    }


async def _registration(person, settings) -> dict:
    """Whether the person signs in their own name, where their registration stands, and a
    fresh personal link to its web page (minted only for those who register)."""
    from workflows import registration, registration_links

    needed = await registration.needs_registration(person)
    latest = await registration.latest(person.id)
    step = (await registration.progress_of(latest)).step if latest is not None else None
    link = await registration_links.registration_link(settings, person) if needed else None
    return {"needed": needed, "step": step, "link": link}


async def show_user(args, ctx) -> int:
    await ctx.open(services=False)
    person = await people.get_person(args.email)
    info = await describe(person, ctx.settings, new_link_code=args.new_link_code)
    if args.json:
        print_json(info)
        return 0
    print(f"{info['name']} <{info['email']}>" + (f"  {info['phone']}" if info["phone"] else ""))
    for c in info["cabinets"]:
        rights = ", ".join(c["delegations"]) or "none"
        print(f"  {c['slug']} ({c['name']}): {c['role']}; may {rights}")
    print(f"  secret mail-in address: {info['mail_in_address']}")
    tg = info["telegram"]
    print(f"  Telegram: {'linked' if tg['linked'] else 'not linked'}"
          + (f"; link with {tg['deep_link'] or tg['start_command']}"
             f" (one-time, until {tg['link_expires_at'][:16]} UTC)" if tg["start_command"] else ""))
    reg = info["registration"]
    if reg["needed"]:
        print(f"  Registration: {reg['step'] or 'not started'}; web page: {reg['link']}")
    return 0
