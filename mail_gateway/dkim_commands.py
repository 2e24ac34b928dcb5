"""`paraphe dkim keygen [--selector S] [--bits N] [--force] [--json]` and `paraphe dkim show`:
the key outgoing mail is signed with, and the DNS TXT record that lets receivers check it."""

from __future__ import annotations

import sys

from mail_gateway import dkim_key
from paraphe.console import CliError, print_json
from workflows.shared_state import is_postgres


def register(sub) -> None:
    parser = sub.add_parser("dkim", help="the outgoing DKIM key and its DNS record")
    dsub = parser.add_subparsers(dest="action", required=True)
    keygen = dsub.add_parser("keygen", help="make the signing key; print the record to publish")
    keygen.add_argument("--selector", help="DNS selector (default: PARAPHE_DKIM_SELECTOR)")
    keygen.add_argument("--bits", type=int, default=2048, help="RSA key size (2048)")
    keygen.add_argument("--force", action="store_true", help="replace the selector's key")
    keygen.add_argument("--json", action="store_true", help="one JSON document")
    keygen.set_defaults(handler=keygen_command)
    show = dsub.add_parser("show", help="print the DNS record of the key in use")
    show.add_argument("--selector", help="DNS selector (default: PARAPHE_DKIM_SELECTOR)")
    show.add_argument("--json", action="store_true", help="one JSON document")
    show.set_defaults(handler=show_command)


def _selector(args, settings) -> str:
    try:
        return dkim_key.check_selector(args.selector or settings.dkim_selector)
    except ValueError as exc:
        raise CliError(str(exc)) from None


async def _fetch_shared(ctx, selector: str) -> None:
    if is_postgres(ctx.settings.database_url):
        if not ctx.opened:
            await ctx.open(services=False)
        await dkim_key.fetch_shared(ctx.settings, selector)


def _print(record: dkim_key.DkimRecord, as_json: bool) -> None:
    if as_json:
        print_json(record.as_json())
    else:
        print(record.zone_line())


async def keygen_command(args, ctx) -> int:
    settings = ctx.settings
    selector = _selector(args, settings)
    if args.bits not in dkim_key.KEY_SIZES:
        raise CliError(f"--bits must be one of {', '.join(map(str, dkim_key.KEY_SIZES))}")
    if settings.dkim_private_key:
        raise CliError(f"PARAPHE_DKIM_PRIVATE_KEY is set: mail is signed with "
                       f"{settings.dkim_private_key}; unset it to use a generated key")
    # On PostgreSQL the key is every instance's: the one another instance made counts.
    await _fetch_shared(ctx, selector)
    if dkim_key.has_stored_key(settings, selector) and not args.force:
        raise CliError(f"a DKIM key for selector {selector!r} already exists; --force replaces "
                       "it (publish the new record first), or use another --selector")
    public = dkim_key.generate(settings, selector, bits=args.bits, replace=args.force)
    if ctx.opened:
        await dkim_key.share(settings, selector, replace=args.force)
    _print(dkim_key.record_for(public, selector, settings.mail_domain), args.json)
    # Advice on stderr, so that stdout stays the record (or the JSON document) alone.
    if selector != settings.dkim_selector:
        sys.stderr.write(f"paraphe: publish the record, then set PARAPHE_DKIM_SELECTOR="
                         f"{selector} and restart to sign with this key\n")
    else:
        sys.stderr.write("paraphe: publish the record; a running `paraphe serve` signs with "
                         "this key once restarted\n")
    return 0


async def show_command(args, ctx) -> int:
    settings = ctx.settings
    selector = _selector(args, settings)
    key = dkim_key.file_key(settings) if selector == settings.dkim_selector else None
    if key is None:
        await _fetch_shared(ctx, selector)
        key = dkim_key.stored_key(settings, selector)
    if key is None:
        raise CliError(f"no DKIM key for selector {selector!r}: run `paraphe dkim keygen`")
    _print(dkim_key.record_for(key.public_key(), selector, settings.mail_domain), args.json)
    return 0
