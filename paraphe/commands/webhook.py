"""`paraphe webhook add|list|remove|deliveries`: a cabinet's signed webhook endpoints."""

from __future__ import annotations

from paraphe.console import CliError, print_json
from workflows import webhooks
from workflows.actors import Actor
from workflows.webhook_secrets import SecretBox
from workflows.webhook_targets import WebhookTargets


def register(sub) -> None:
    parser = sub.add_parser("webhook", help="webhook endpoints of a cabinet")
    wsub = parser.add_subparsers(dest="action", required=True)
    add = wsub.add_parser("add", help="register an endpoint; its signing secret is printed once")
    add.add_argument("slug")
    add.add_argument("url")
    add.add_argument("--events", default="",
                     help="comma-separated types or patterns (seal.*, collection.*, signer.*); "
                          "default: all")
    add.add_argument("--json", action="store_true")
    add.set_defaults(handler=add_endpoint)
    list_ = wsub.add_parser("list", help="the cabinet's endpoints")
    list_.add_argument("slug")
    list_.add_argument("--json", action="store_true")
    list_.set_defaults(handler=list_endpoints)
    remove = wsub.add_parser("remove", help="stop sending to an endpoint")
    remove.add_argument("slug")
    remove.add_argument("endpoint_id")
    remove.set_defaults(handler=remove_endpoint)
    log = wsub.add_parser("deliveries", help="the latest delivery attempts")
    log.add_argument("slug")
    log.add_argument("--limit", type=int, default=50)
    log.add_argument("--json", action="store_true")
    log.set_defaults(handler=show_deliveries)


async def add_endpoint(args, ctx) -> int:
    await ctx.open(services=False)
    events = [e for e in args.events.split(",") if e.strip()]
    created = await webhooks.add_endpoint(Actor.operator(command="webhook add"),
                                          cabinet=args.slug, url=args.url, events=events,
                                          box=SecretBox(ctx.settings),
                                          targets=WebhookTargets.from_settings(ctx.settings))
    if args.json:
        print_json({"id": created.endpoint.id, "url": created.endpoint.url,
                    "events": created.endpoint.events, "secret": created.secret})
    else:
        print(created.secret)
        print(f"# endpoint {created.endpoint.id} -> {args.url}: this signing secret is shown "
              f"only now; check the {webhooks.SIGNATURE_HEADER} header with it")
    return 0


async def list_endpoints(args, ctx) -> int:
    await ctx.open(services=False)
    endpoints = await webhooks.list_endpoints(args.slug)
    rows = [{"id": e.id, "url": e.url, "events": e.events or ["*"],
             "created_at": e.created_at} for e in endpoints]
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print(f"{args.slug}: no webhook endpoint")
    for r in rows:
        print(f"{r['id']}  {r['url']}  [{','.join(r['events'])}]")
    return 0


async def remove_endpoint(args, ctx) -> int:
    if not args.endpoint_id.isdigit():
        raise CliError(f"invalid endpoint id {args.endpoint_id!r}: a number from `webhook list`")
    await ctx.open(services=False)
    await webhooks.remove_endpoint(Actor.operator(command="webhook remove"), cabinet=args.slug,
                                   endpoint_id=int(args.endpoint_id))
    print(f"endpoint {args.endpoint_id} removed")
    return 0


async def show_deliveries(args, ctx) -> int:
    await ctx.open(services=False)
    rows = [{"id": d.id, "at": d.at, "endpoint_id": d.endpoint_id, "url": d.endpoint.url,
             "event_id": d.event.event_id, "type": d.event.type, "attempt": d.attempt,
             "status_code": d.status_code, "ok": d.ok, "error": d.error,
             "duration_ms": d.duration_ms, "outcome": d.outcome}
            for d in await webhooks.deliveries(args.slug, limit=args.limit)]
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print(f"{args.slug}: no delivery yet")
    for r in rows:
        print(f"{r['at']:%Y-%m-%d %H:%M:%S}  {r['event_id']}  {r['type']}  -> {r['url']}  "
              f"attempt {r['attempt']}  {r['status_code'] or r['error']}  {r['outcome']}")
    return 0
