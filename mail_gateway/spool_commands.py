"""`paraphe spool list|show|retry|drop [ID] [--json]`: accepted mail not yet answered, and the
quarantine."""

from __future__ import annotations

from paraphe.console import CliError, print_json


def register(sub) -> None:
    parser = sub.add_parser("spool", help="accepted mail not yet answered, and the quarantine")
    actions = parser.add_subparsers(dest="action", required=True, parser_class=type(parser))
    listing = actions.add_parser("list", help="waiting and quarantined mail, oldest first")
    listing.add_argument("--json", action="store_true", help="one JSON document")
    listing.set_defaults(handler=list_spool)
    for name, handler, text in (
            ("show", show_mail, "one message: envelope, headers and why it was set aside"),
            ("retry", retry_mail, "put a quarantined message back to be processed again"),
            ("drop", drop_mail, "delete a message from the spool or the quarantine")):
        action = actions.add_parser(name, help=text)
        action.add_argument("id", help="the message's id, as `paraphe spool list` shows it")
        action.add_argument("--json", action="store_true", help="one JSON document")
        action.set_defaults(handler=handler)


async def _spool(ctx):
    """The deployment's spool; the database opened when the spool is kept there."""
    from mail_gateway.spools import open_spool

    spool = open_spool(ctx.settings)
    if spool.shared:
        await ctx.open(services=False)
    return spool


def _describe(entry, *, headers: bool = False) -> dict:
    from mail_gateway.spools import age_seconds
    from workflows import clock

    envelope = entry.envelope
    item = {
        "id": entry.id, "state": entry.state,
        "received_at": envelope.get("received_at"),
        "age_seconds": round(age_seconds(envelope, clock.now()), 1),
        "command": envelope.get("command"), "to": envelope.get("rcpt"),
        "mail_from": envelope.get("mail_from"), "size": entry.size,
        "reason": entry.reason if entry.state == "quarantined" else None,
    }
    if headers:
        from mail_gateway import mime

        mail = mime.parse_headers_only(entry.raw)
        item.update(envelope=envelope, subject=mail.subject, message_id=mail.message_id,
                    from_address=mail.from_address)
    return item


async def _find(spool, ident: str):
    from mail_gateway.spools import Gone

    try:
        return await spool.find(ident)
    except Gone:
        raise CliError(f"no message {ident!r} in the spool or the quarantine") from None


async def list_spool(args, ctx) -> int:
    from workflows import clock

    spool = await _spool(ctx)
    entries = await spool.entries()
    items = [_describe(e) for e in entries if e.state == "pending"] + [
        _describe(e) for e in entries if e.state == "quarantined"]
    _, _, oldest = await spool.gauges(clock.now())
    if args.json:
        print_json({"spool": str(spool.root), "oldest_unanswered_seconds": round(oldest, 1),
                    "messages": items})
        return 0
    if not items:
        print("the spool is empty")
    for item in items:
        why = f"  ({item['reason'].get('reason')})" if item["reason"] else ""
        print(f"{item['id']}  {item['state']}  {item['age_seconds']:.0f}s  {item['to']}{why}")
    return 0


async def show_mail(args, ctx) -> int:
    spool = await _spool(ctx)
    item = _describe(await _find(spool, args.id), headers=True)
    if args.json:
        print_json(item)
        return 0
    for key in ("id", "state", "received_at", "age_seconds", "command", "to", "mail_from",
                "from_address", "subject", "message_id", "size", "reason"):
        print(f"{key}: {item[key] if item[key] is not None else ''}")
    return 0


async def retry_mail(args, ctx) -> int:
    from mail_gateway.spools import Gone
    from workflows import clock

    spool = await _spool(ctx)
    entry = await _find(spool, args.id)
    if entry.state != "quarantined":
        raise CliError(f"{args.id} is not quarantined: it is already waiting to be processed")
    # A fresh deadline from now: the operator judged it worth another day of tries.
    try:
        new = await spool.release(args.id, {"retried_at": clock.now().isoformat()})
    except Gone:
        raise CliError(f"{args.id} was retried or dropped meanwhile") from None
    if args.json:
        print_json({"id": new, "state": "pending"})
    else:
        print(f"{args.id} is back in the spool as {new}")
    return 0


async def drop_mail(args, ctx) -> int:
    from mail_gateway.spools import Gone

    spool = await _spool(ctx)
    entry = await _find(spool, args.id)
    try:
        await spool.drop(entry.id)
    except Gone:
        raise CliError(f"no message {args.id!r} in the spool or the quarantine") from None
    if args.json:
        print_json({"id": entry.id, "dropped": True})
    else:
        print(f"{args.id} dropped")
    return 0
