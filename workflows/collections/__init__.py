"""Collections (collectes): documents signed by several signers, from creation to the
sealed evidence report. The public API every channel (mail, chat, web, API, CLI) calls.

Modules, lowest first (each imports only those above it):
  notices      the notifications a collection records (invitations, reminders, news)
  lines        signers written as text (mail body, chat): SignerSpec and the parsers
  states       loading a visible collection, conditional transitions, credit release
  rights       who may start (launch or prepare) and who may manage a collection
  versions     the document version store and the per-collection locks
  dss          validation data a large collection defers to completion
  view         SignerView: what a signer may do, which version is served
  codes        a signer's one-time codes
  report       the evidence report (JSON, sealed PDF/A-3)
  finalisation document timestamps, report stored, signed copies mailed
  signing      one signer's PAdES signature on every document, with retries
  lifecycle    create, approve, reject, launch, cancel, remind, expire, decline
  listing      which collections a person or an API key sees
  signer_flow  the signer's actions: open, code, sign, decline (web link and chat)
"""

from workflows.collections.finalisation import finalize, finalize_pending
from workflows.collections.lifecycle import (
    approve_collection,
    cancel_collection,
    create_collection,
    expire,
    reject_collection,
    remind_collection,
)
from workflows.collections.lines import (
    CollectRequest,
    SignerSpec,
    parse_body,
    parse_line,
    parse_signers,
)
from workflows.collections.listing import (
    cabinet_collections,
    get_collection,
    list_collections,
    member_sees,
    pending_approvals,
    signers_of,
)
from workflows.collections.report import (
    EvidenceReport,
    appendix_lines,
    build_report,
    evidence_report,
    printable_json,
)
from workflows.collections.rights import StartRight, may_start_with, require_start
from workflows.collections.signer_flow import (
    decline,
    note_opened,
    request_signature_code,
    send_code,
    sign_internal,
    sign_with_code,
)
from workflows.collections.states import signature_cost
from workflows.collections.view import (
    ServedDocument,
    SignerView,
    served,
    signed_copy_available,
    signer_view,
)

__all__ = [
    "CollectRequest", "EvidenceReport", "ServedDocument", "SignerSpec", "SignerView",
    "StartRight", "appendix_lines", "approve_collection", "build_report",
    "cabinet_collections", "cancel_collection", "create_collection", "decline",
    "evidence_report", "expire", "finalize", "finalize_pending", "get_collection",
    "list_collections", "may_start_with", "note_opened", "parse_body", "parse_line",
    "parse_signers",
    "member_sees", "pending_approvals", "printable_json", "reject_collection", "remind_collection",
    "request_signature_code", "require_start", "send_code", "served", "sign_internal",
    "sign_with_code", "signature_cost", "signed_copy_available", "signer_view",
    "signers_of",
]
