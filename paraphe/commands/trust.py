"""`paraphe trust root [--fdf]` and `paraphe verify FILE.pdf [--json]`."""

from __future__ import annotations

import sys
from pathlib import Path

from paraphe.console import print_json
from workflows import clock
from workflows.errors import DocumentError
from workflows.trust.fdf import certificate_fdf


def register(sub) -> None:
    trust = sub.add_parser("trust", help="the platform's trust service")
    tsub = trust.add_subparsers(dest="action", required=True)
    root = tsub.add_parser("root", help="print the root CA certificate (PEM)")
    root.add_argument("--fdf", action="store_true",
                      help="as an FDF file that Adobe Acrobat imports as a trusted identity")
    root.set_defaults(handler=print_root)
    verify = sub.add_parser("verify", help="validation report of a signed PDF")
    verify.add_argument("file", metavar="FILE.pdf")
    verify.add_argument("--json", action="store_true", help="one JSON document")
    verify.set_defaults(handler=verify_file)


async def print_root(args, ctx) -> int:
    svc = await ctx.open()
    if not args.fdf:
        sys.stdout.write(svc.trust.root_pem())
        return 0
    root = svc.trust.authority("root")
    sys.stdout.flush()
    sys.stdout.buffer.write(certificate_fdf(
        root.der, root.spec.common_name, f"help@{ctx.settings.mail_domain}", clock.now()))
    sys.stdout.buffer.flush()
    return 0


def _refuse(reason: str) -> int:
    # Same contract as CliError (one line, exit 2), without depending on which module
    # object CliError belongs to when the CLI runs as `python -m paraphe.cli`.
    sys.stderr.write(f"paraphe: {reason}\n")
    return 2


async def verify_file(args, ctx) -> int:
    from workflows.verification import verify_document

    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return _refuse(f"{path}: {(exc.strerror or 'cannot be read').lower()}")
    svc = await ctx.open()
    try:
        report = await verify_document(svc, data, path.name)
    except DocumentError as exc:
        return _refuse(f"{path}: {exc.message} ({exc.code})")
    if args.json:
        print_json(report)
    else:
        sys.stdout.write(render(report, path.name))
    return 0 if report["ok"] else 1


def _yes(flag: bool) -> str:
    return "yes" if flag else "NO"


def render(report: dict, name: str) -> str:
    """The report as text for a terminal."""
    lines = [f"{name}: {'VALID' if report['ok'] else 'NOT VALID'}"
             f" ({len(report['signatures'])} signature(s), {report['revisions']} revision(s))"]
    if not report["signatures"]:
        lines.append("  no signature in this file")
    if report.get("archive_until"):
        lines.append(f"  archive timestamps hold until {report['archive_until']}")
    for number, sig in enumerate(report["signatures"], 1):
        kind = "document timestamp" if sig["type"] == "document_timestamp" else "signature"
        lines.append(f"#{number} {kind} {sig.get('field') or ''}".rstrip())
        if sig.get("signer"):
            lines.append(f"  signer:          {sig['signer']} (serial {sig.get('serial')})")
        if sig.get("signing_time"):
            lines.append(f"  signing time:    {sig['signing_time']} (claimed by the signer)")
        if sig.get("timestamp_time"):
            lines.append(f"  timestamp:       {sig['timestamp_time']}")
        if sig.get("level"):
            lines.append(f"  PAdES level:     {sig['level']}")
        if sig.get("ades"):
            sub = f" ({sig['ades_sub_indication']})" if sig.get("ades_sub_indication") else ""
            lines.append(f"  EN 319 102-1:    {sig['ades']}{sub}")
            lines.append(f"  offline:         {_yes(sig.get('offline'))}")
        lines.append(f"  intact:          {_yes(sig['intact'])}")
        lines.append(f"  trusted:         {_yes(sig['trusted'])}")
        if sig.get("revocation"):
            lines.append(f"  revocation:      {sig['revocation']}")
        if sig.get("coverage"):
            lines.append(f"  covers:          {sig['coverage']}")
        if sig.get("changes_after"):
            lines.append(f"  changed after:   {sig['changes_after']}")
        for problem in sig.get("problems", ()):
            lines.append(f"  ! {problem}")
    return "\n".join(lines) + "\n"
