"""`paraphe outbox [--json] [--limit N]`: the mail that went out to the embedded outbox (a
Maildir); `--failed`: the notifications of every channel that could not be delivered."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

from paraphe.console import CliError, print_json


def register(sub) -> None:
    parser = sub.add_parser("outbox", help="list outgoing mail of the embedded outbox")
    parser.add_argument("--json", action="store_true", help="one JSON document")
    parser.add_argument("--limit", type=int, default=0, help="only the last N messages")
    parser.add_argument("--failed", action="store_true",
                        help="notifications of every channel that failed for good")
    parser.set_defaults(handler=list_outbox)


def read_outbox(root) -> list[dict]:
    """Every message of the Maildir, oldest first: headers and attachment names, no body."""
    from mail_gateway.delivery import Maildir

    items = []
    for path in Maildir(root).messages():
        with open(path, "rb") as fh:
            msg = BytesParser(policy=policy.default).parse(fh)
        try:
            date = parsedate_to_datetime(str(msg["Date"])).isoformat() if msg["Date"] else None
        except (TypeError, ValueError):
            date = None
        items.append({
            "file": path.name,
            "date": date,
            "from": str(msg["From"] or ""),
            "to": str(msg["To"] or ""),
            "subject": str(msg["Subject"] or ""),
            "message_id": str(msg["Message-ID"] or ""),
            "in_reply_to": str(msg["In-Reply-To"] or "") or None,
            "attachments": [part.get_filename() for part in msg.iter_attachments()],
            "size": path.stat().st_size,
        })
    return items


async def list_outbox(args, ctx) -> int:
    if args.limit < 0:
        raise CliError("--limit must be a positive number")
    if args.failed:
        return await list_failed(args, ctx)
    if ctx.settings.smtp_relay:
        raise CliError(f"outgoing mail goes through the relay {ctx.settings.smtp_relay}; "
                       "there is no embedded outbox")
    items = read_outbox(ctx.settings.home / "outbox")
    if args.limit:
        items = items[-args.limit:]
    if args.json:
        print_json({"outbox": str(ctx.settings.home / "outbox"), "messages": items})
        return 0
    if not items:
        print("the outbox is empty")
    for item in items:
        files = f"  [{', '.join(item['attachments'])}]" if item["attachments"] else ""
        print(f"{item['date'] or '?'}  {item['to']}  {item['subject']}{files}")
    return 0


async def list_failed(args, ctx) -> int:
    """From the database, whatever the relay: mail, Telegram, SMS and webhook alike."""
    from workflows.delivery_state import failed_notifications

    await ctx.open(services=False)
    items = await failed_notifications(args.limit)
    if args.json:
        print_json({"failed": items})
        return 0
    if not items:
        print("no failed notifications")
    for item in items:
        print(f"{item['created_at']}  {item['channel']}  {item['recipient']}  {item['template']}"
              f"  attempts={item['attempts']}  {item['failure_reason']}  {item['last_error']}")
    return 0
