"""`paraphe apikey create|list|revoke`: keys of the REST API, bound to a person and scopes."""

from __future__ import annotations

import sys

from paraphe.console import CliError, print_json
from workflows import apikeys
from workflows.actors import Actor


def register(sub) -> None:
    parser = sub.add_parser("apikey", help="API keys for accounting software")
    asub = parser.add_subparsers(dest="action", required=True)
    create = asub.add_parser("create", help="create a key; it is printed once")
    create.add_argument("slug")
    create.add_argument("--as", dest="email", required=True, help="the person the key acts for")
    create.add_argument("--name", required=True, help="the software using the key")
    create.add_argument("--scopes", default="seal,collect,read",
                        help="comma-separated: seal, collect, read (default: all)")
    create.add_argument("--json", action="store_true")
    create.set_defaults(handler=create_key)
    list_ = asub.add_parser("list", help="the cabinet's keys (never their secret)")
    list_.add_argument("slug")
    list_.add_argument("--json", action="store_true")
    list_.set_defaults(handler=list_keys)
    revoke = asub.add_parser("revoke", help="revoke a key at once")
    revoke.add_argument("slug")
    revoke.add_argument("key_id", help="the key's id or its prefix (pk_<prefix>)")
    revoke.set_defaults(handler=revoke_key)


async def create_key(args, ctx) -> int:
    await ctx.open(services=False)
    created = await apikeys.create_key(Actor.operator(command="apikey create"), cabinet=args.slug,
                                       email=args.email, name=args.name,
                                       scopes=args.scopes.split(","))
    if args.json:
        print_json({"id": created.key.id, "key": created.token, "scopes": created.key.scopes,
                    "name": created.key.name})
    else:
        # The key alone on stdout (KEY=$(paraphe apikey create …)); what it is on stderr.
        print(created.token, flush=True)
        print(f"# key {created.key.id} for {args.email} in {args.slug}, scopes "
              f"{','.join(created.key.scopes)}: it is shown only now; keep it secret",
              file=sys.stderr)
    return 0


def _row(key) -> dict:
    return {"id": key.id, "prefix": f"pk_{key.prefix}", "name": key.name,
            "person": key.person.email, "scopes": key.scopes, "created_at": key.created_at,
            "last_used_at": key.last_used_at, "revoked_at": key.revoked_at}


async def list_keys(args, ctx) -> int:
    await ctx.open(services=False)
    keys = await apikeys.list_keys(args.slug)
    if args.json:
        print_json([_row(k) for k in keys])
        return 0
    if not keys:
        print(f"{args.slug}: no API key")
    for k in keys:
        state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
        print(f"{k.id}  pk_{k.prefix}…  {k.name}  as {k.person.email}  "
              f"[{','.join(k.scopes)}]  {state}")
    return 0


async def revoke_key(args, ctx) -> int:
    await ctx.open(services=False)
    ident = args.key_id
    if not ident.isdigit():
        prefix = ident.removeprefix("pk_").split("_")[0]
        match = [k for k in await apikeys.list_keys(args.slug) if k.prefix == prefix]
        if not match:
            raise CliError(f"no API key {ident!r} in {args.slug}")
        ident = str(match[0].id)
    done = await apikeys.revoke_key(Actor.operator(command="apikey revoke"), cabinet=args.slug,
                                    key_id=int(ident))
    print(f"key {ident} revoked" if done else f"key {ident} was already revoked")
    return 0
