"""`paraphe archive renew [--before DATE]`: fresh archive timestamps for stored signed documents."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime, UTC

from paraphe.console import CliError
from workflows import archive, clock


def register(sub) -> None:
    parser = sub.add_parser("archive", help="archive timestamps of stored signed documents")
    asub = parser.add_subparsers(dest="action", required=True)
    renew = asub.add_parser("renew", help="add a fresh archive timestamp where one lapses soon")
    renew.add_argument("--before", metavar="DATE",
                       help="renew what lapses before DATE (ISO 8601); default: now + "
                            "PARAPHE_ARCHIVE_RENEW_BEFORE")
    renew.add_argument("--json", action="store_true")
    renew.set_defaults(handler=renew_timestamps)


def _date(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"--before {text!r}: not an ISO 8601 date (2031-12-31)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def renew_timestamps(args, ctx) -> int:
    before = _date(args.before) if args.before else None
    svc = await ctx.open()
    done, started = [], clock.now()
    while batch := await archive.renew_due(svc, before=before, stored_before=started):
        done.extend(batch)
    if args.json:
        print(json.dumps({"renewed": [asdict(r) for r in done]}))
        return 0
    for renewal in done:
        print(f"{renewal.filename}: {renewal.before_sha256} -> {renewal.after_sha256}"
              f"  holds until {renewal.archive_until}")
    print(f"{len(done)} document(s) renewed")
    return 0
