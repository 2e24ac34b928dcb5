#!/usr/bin/env python3
"""Recomputes the hash chain of a Paraphe certificate of evidence, as a third party would.

Standalone (Python's standard library only, nothing of Paraphe imported). Give it either
the JSON report (`preuve-N.json`, as served or as attached to the PDF) or the text of the
PDF certificate (`pdftotext -layout preuve-N.pdf preuve-N.txt`): it reads the hashed fields
of every event from the appendix, recomputes each SHA-256 and checks that each event links
to the one before it. Prints one line per event; exits 0 when everything holds, 1 otherwise.

    python3 evidence_chain_check.py preuve-12.json
    python3 evidence_chain_check.py preuve-12.txt
"""

import hashlib
import json
import re
import sys

FIELDS = ("seq", "at", "kind", "channel", "cabinet_id", "person_id", "collection_id", "data",
          "prev_hash")
DIGEST_AT_END = re.compile(r"\b([0-9a-f]{64})\s*$")
VISIBLE_SPACE = "\u2423"
MAX_LINES = 5000


def canonical(body):
    """The bytes hashed: JSON, keys sorted, no spaces, UTF-8, non-ASCII unescaped."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def events_from_json(text):
    report = json.loads(text)
    return [({name: e[name] for name in FIELDS}, e["hash"]) for e in report["events"]]


def events_from_appendix(text):
    """(body, printed digest) for each event printed in the appendix: a line ending with
    the digest, then the body cut in lines to be joined as they are, ␣ for a space."""
    found, digest, block = [], None, None
    for raw in text.splitlines():
        line = raw.strip()
        if block is not None:
            if " " in line:
                # A page's footer amid a body printed over several pages: a body's lines
                # have no space (␣ stands for one).
                continue
            block.append(line)
            try:
                body = json.loads("".join(block).replace(VISIBLE_SPACE, " "))
            except ValueError:
                if len(block) > MAX_LINES:
                    raise SystemExit("an event of the appendix never ends") from None
                continue
            found.append((body, digest))
            digest, block = None, None
            continue
        if line.startswith('{"at":"') and digest is not None:
            block = [line]
            try:
                body = json.loads(line.replace(VISIBLE_SPACE, " "))
            except ValueError:
                continue
            found.append((body, digest))
            digest, block = None, None
            continue
        match = DIGEST_AT_END.search(line)
        if match:
            digest = match.group(1)
    return found


def check(events):
    ok = True
    previous = None
    for body, printed in sorted(events, key=lambda item: item[0]["seq"]):
        missing = [name for name in FIELDS if name not in body]
        if missing:
            print(f"event {body.get('seq')}: missing fields {missing}")
            ok = False
            continue
        digest = hashlib.sha256(canonical({name: body[name] for name in FIELDS})).hexdigest()
        verdict = "hash ok" if digest == printed else f"HASH MISMATCH (computed {digest})"
        ok &= digest == printed
        if previous is not None and previous[0] + 1 == body["seq"]:
            linked = body["prev_hash"] == previous[1]
            verdict += ", linked to the previous event" if linked else ", LINK BROKEN"
            ok &= linked
        elif previous is not None:
            verdict += f", follows event {previous[0]} through other events of the platform's log"
        print(f"event {body['seq']} {body['kind']}: {verdict}")
        previous = (body["seq"], printed)
    return ok and bool(events)


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[0])
        print("usage: evidence_chain_check.py REPORT.json|CERTIFICATE.txt")
        return 2
    with open(argv[1], encoding="utf-8") as fh:
        text = fh.read()
    events = events_from_json(text) if text.lstrip().startswith("{") else \
        events_from_appendix(text)
    if not events:
        print("no event found")
        return 1
    good = check(events)
    print(f"{len(events)} events: {'the chain holds' if good else 'THE CHAIN DOES NOT HOLD'}")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
