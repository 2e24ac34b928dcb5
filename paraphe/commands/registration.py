"""`paraphe registration list|show|approve|refuse`: the operator's identity review."""

from __future__ import annotations

from pathlib import Path

from paraphe.console import CliError, print_json
from workflows import registration_review as review
from workflows.actors import Actor
from workflows.registration import progress_of

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}


def register(sub) -> None:
    reg = sub.add_parser("registration", help="review people's registrations (identity check)")
    rsub = reg.add_subparsers(dest="action", required=True)
    ls = rsub.add_parser("list", help="registrations waiting for review")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=list_pending)
    show = rsub.add_parser("show", help="one registration, its person and identity documents")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true")
    show.add_argument("--export", metavar="DIR", help="write the decrypted documents into DIR")
    show.set_defaults(handler=show_one)
    approve = rsub.add_parser("approve", help="approve: issues the personal certificate")
    approve.add_argument("id", type=int)
    approve.set_defaults(handler=approve_one)
    refuse = rsub.add_parser("refuse", help="refuse with a reason the person reads")
    refuse.add_argument("id", type=int)
    refuse.add_argument("reason", nargs="+")
    refuse.set_defaults(handler=refuse_one)


def _summary(reg) -> dict:
    return {"id": reg.id, "state": reg.state, "email": reg.person.email,
            "name": reg.person.name, "submitted_at": reg.submitted_at,
            "document_type": reg.document_type}


async def list_pending(args, ctx) -> int:
    await ctx.open(services=False)
    rows = [_summary(r) for r in await review.list_pending()]
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("no registration waits for review")
    for r in rows:
        print(f"{r['id']:>5}  {r['submitted_at']:%Y-%m-%d %H:%M}  {r['name']} <{r['email']}>"
              f"  {r['document_type']}")
    return 0


async def describe(found) -> dict:
    reg, person = found.registration, found.person
    step = (await progress_of(reg)).step
    return {
        "id": reg.id, "state": reg.state, "step": step,
        "person": {"email": person.email, "name": person.name},
        "identity_held": found.identity, "identity_confirmed": reg.identity_snapshot,
        "identity_confirmed_at": reg.identity_confirmed_at,
        "phone": reg.phone, "phone_verified_at": reg.phone_verified_at,
        "document_type": reg.document_type,
        "documents": [{"id": d.id, "side": d.side, "content_type": d.content_type,
                       "size": d.size, "sha256": d.sha256, "uploaded_at": d.created_at}
                      for d in found.documents],
        "agreement_signed_at": reg.agreement_signed_at, "agreement_sha256": reg.agreement_sha256,
        "terms_accepted_at": reg.terms_accepted_at,
        "privacy_accepted_at": reg.privacy_accepted_at, "submitted_at": reg.submitted_at,
        "reviewed_at": reg.reviewed_at, "refusal_reason": reg.refusal_reason,
    }


async def show_one(args, ctx) -> int:
    svc = await ctx.open()
    found = await review.show(args.id)
    info = await describe(found)
    if args.export:
        folder = Path(args.export)
        if folder.exists() and not folder.is_dir():
            raise CliError(f"{folder} is not a folder")
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        info["exported"] = []
        for doc in found.documents:
            path = folder / f"registration-{args.id}-{doc.side}.{EXTENSIONS[doc.content_type]}"
            path.write_bytes(await review.read_document(svc, doc))
            path.chmod(0o600)
            info["exported"].append(str(path))
    if args.json:
        print_json(info)
        return 0
    print(f"registration {info['id']}: {info['state']} ({info['step']})")
    print(f"  {info['person']['name']} <{info['person']['email']}>  mobile {info['phone'] or '-'}"
          f" ({'checked' if info['phone_verified_at'] else 'not checked'})")
    cabinets = ", ".join((info["identity_confirmed"] or {}).get("cabinets", [])) or "-"
    print(f"  identity confirmed: {'yes' if info['identity_confirmed_at'] else 'no'};"
          f" cabinets: {cabinets}")
    print(f"  document: {info['document_type'] or '-'}")
    for d in info["documents"]:
        print(f"    {d['side']}: {d['content_type']}, {d['size']} bytes, sha256 {d['sha256']}")
    print(f"  agreement signed: {'yes' if info['agreement_signed_at'] else 'no'};"
          f" CGU and privacy accepted: {'yes' if info['privacy_accepted_at'] else 'no'}")
    if info["refusal_reason"]:
        print(f"  refused: {info['refusal_reason']}")
    for path in info.get("exported", []):
        print(f"  written: {path}")
    return 0


async def approve_one(args, ctx) -> int:
    svc = await ctx.open()
    reg = await review.approve(svc, Actor.operator(), args.id)
    cert = await reg.certificate
    print(f"registration {reg.id} approved; personal certificate {cert.serial} issued")
    return 0


async def refuse_one(args, ctx) -> int:
    svc = await ctx.open()
    reg = await review.refuse(svc, Actor.operator(), args.id, " ".join(args.reason))
    print(f"registration {reg.id} refused: {reg.refusal_reason}")
    return 0
