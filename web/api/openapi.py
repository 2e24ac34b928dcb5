"""The OpenAPI 3.1 document of /api/v1, served at /api/v1/openapi.json and checked by the tests."""

from __future__ import annotations

from aiohttp import web

from workflows.delivery_state import INVITATION_STATES
from workflows.models.collections import SIGNER_STATES, STATES


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _problem(description: str) -> dict:
    return {"description": description,
            "content": {"application/problem+json": {"schema": _ref("Problem")}}}


ERRORS = {
    "401": _problem("Missing, unknown or revoked API key"),
    "403": _problem("The key lacks the scope, its person the delegation, or the cabinet's "
                    "expert has not accepted the current terms of use (terms_not_accepted)"),
    "429": {**_problem("Rate limit of the key exceeded"),
            "headers": {"Retry-After": {"schema": {"type": "string"}}}},
    "default": _problem("Any other error, as an RFC 9457 problem document"),
}
IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": False,
               "description": "The same key and body replay the first answer; another body "
                              "with the same key gets 422.",
               "schema": {"type": "string", "minLength": 1, "maxLength": 191}}
COLLECTION_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
PDF_UPLOAD = {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary",
                            "contentMediaType": "application/pdf"}}}}}}


def _json(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _post(summary: str, op_id: str, ok: dict, *, body: dict | None = None,
          params: list | None = None, extra: dict | None = None) -> dict:
    op = {"summary": summary, "operationId": op_id, "parameters": [*(params or []), IDEMPOTENCY],
          "responses": {**ok, **(extra or {}), **ERRORS}}
    if body:
        op["requestBody"] = body
    return {"post": op}


def _collection_action(verb: str, summary: str) -> dict:
    return _post(summary, f"{verb}Collection", {"200": _json(_ref("Collection"))},
                 params=[COLLECTION_ID],
                 extra={"404": _problem("No such collection in the key's cabinet"),
                        "409": _problem("Not possible in the collection's state")})


DATE = {"type": ["string", "null"], "format": "date-time"}
SCHEMAS = {
    "Problem": {"type": "object", "required": ["type", "title", "status", "code", "detail"],
                "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                               "status": {"type": "integer"}, "code": {"type": "string"},
                               "detail": {"type": "string"},
                               "error_id": {"type": "string", "description":
                                            "Of an unexpected failure (500, 507): the id of "
                                            "its line in the service's log"}}},
    "Seal": {"type": "object",
             "required": ["sha256", "filename", "size", "cabinet", "credit_left",
                          "source_sha256", "certificate_serial"],
             "properties": {"sha256": {"type": "string"}, "filename": {"type": "string"},
                            "size": {"type": "integer"}, "cabinet": {"type": "string"},
                            "credit_left": {"type": "integer"},
                            "source_sha256": {"type": "string"},
                            "certificate_serial": {"type": "string"}}},
    "Credit": {"type": "object", "required": ["cabinet", "available", "reserved", "tariffs"],
               "properties": {"cabinet": {"type": "string"}, "available": {"type": "integer"},
                              "reserved": {"type": "integer"},
                              "tariffs": {"type": "object",
                                          "additionalProperties": {"type": "integer"}}}},
    "VerificationReport": {"type": "object", "required": ["ok"],
                           "properties": {"ok": {"type": "boolean"},
                                          "signatures": {"type": "array"}}},
    "Collection": {
        "type": "object",
        "required": ["id", "cabinet", "state", "title", "documents", "signers", "created_at"],
        "properties": {
            "id": {"type": "integer"}, "cabinet": {"type": "string"},
            "state": {"enum": list(STATES)}, "title": {"type": "string"},
            "message": {"type": "string"}, "ordered": {"type": "boolean"},
            "expiry_days": {"type": "integer"}, "created_at": {"type": "string"},
            "launched_at": DATE, "expires_at": DATE, "ended_at": DATE,
            "reminded": {"type": "integer"},
            "evidence_report": {"type": "string"},
            "evidence_signature": {"type": "string"},
            "documents": {"type": "array", "items": {
                "type": "object", "required": ["position", "filename", "original_sha256"],
                "properties": {"position": {"type": "integer"}, "filename": {"type": "string"},
                               "original_sha256": {"type": "string"},
                               "current_sha256": {"type": ["string", "null"]},
                               "download": {"type": "string"}}}},
            "signers": {"type": "array", "items": {
                "type": "object", "required": ["position", "name", "email", "state"],
                "properties": {"position": {"type": "integer"}, "name": {"type": "string"},
                               "email": {"type": "string"},
                               "state": {"enum": list(SIGNER_STATES)},
                               "internal": {"type": "boolean"}, "signed_at": DATE,
                               "declined_at": DATE,
                               "decline_reason": {"type": ["string", "null"]},
                               "invitation": {
                                   "enum": [*INVITATION_STATES, None],
                                   "description": "Delivery of the signer's invitation: "
                                                  "pending (not sent yet), sent, failed (their "
                                                  "address failed); null: not invited yet"},
                               "delivery_failed_at": DATE,
                               "delivery_failure": {"type": ["string", "null"]}}}}}},
    "Cabinet": {"type": "object", "required": ["slug", "name", "siren"],
                "properties": {"slug": {"type": "string"}, "name": {"type": "string"},
                               "siren": {"type": ["string", "null"],
                                         "description": "Nine digits; its seal names it"}}},
    "CollectionPage": {"type": "object", "required": ["items", "next_cursor"],
                       "properties": {"items": {"type": "array", "items": _ref("Collection")},
                                      "next_cursor": {"type": ["string", "null"]}}},
}


def document(server_url: str = "/api/v1") -> dict:
    """The whole OpenAPI 3.1 document, paths relative to `server_url`."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "Paraphe API", "version": "1.0.0",
                 "description": "Seal PDFs, run signature collections and read a cabinet's "
                                "credit from accounting software. Errors are RFC 9457 problem "
                                "documents whose `code` is stable."},
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                       "schemas": SCHEMAS},
        "paths": {
            "/openapi.json": {"get": {"summary": "This document", "operationId": "openapi",
                                      "security": [],
                                      "responses": {"200": _json({"type": "object"})}}},
            "/seals": _post(
                "Seal a PDF with the cabinet's seal (scope seal)", "createSeal",
                {"201": {"description": "Sealed: JSON, or the PDF with Accept: application/pdf",
                         "content": {"application/json": {"schema": _ref("Seal")},
                                     "application/pdf": {"schema": {"type": "string",
                                                                    "format": "binary"}}}}},
                body=PDF_UPLOAD,
                extra={"402": _problem("Not enough credit"),
                       "413": _problem("Over 10 MB"),
                       "422": _problem("Not a usable PDF, or Idempotency-Key reused")}),
            "/verify": _post("Validation report of a signed PDF (scope read)", "verifyPdf",
                             {"200": _json(_ref("VerificationReport"))}, body=PDF_UPLOAD,
                             extra={"422": _problem("Not a readable PDF")}),
            "/credit": {"get": {"summary": "The cabinet's credit (scope read)",
                                "operationId": "getCredit",
                                "responses": {"200": _json(_ref("Credit")), **ERRORS}}},
            "/cabinet": {"get": {"summary": "The key's cabinet (scope read)",
                                 "operationId": "getCabinet",
                                 "responses": {"200": _json(_ref("Cabinet")), **ERRORS}}},
            "/cabinet/siren": {"put": {
                "summary": "Give the cabinet its SIREN, which its seal names: an expert, while "
                           "it has none (scope seal)",
                "operationId": "setCabinetSiren",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["siren"],
                    "properties": {"siren": {"type": "string",
                                             "description": "Nine digits, Luhn-checked"}}}}}},
                "responses": {"200": _json(_ref("Cabinet")),
                              "409": _problem("The cabinet already has another SIREN "
                                              "(cabinet_siren_set)"),
                              "422": _problem("Not a SIREN (siren_invalid: nine digits whose "
                                              "check digit holds), or no siren field"),
                              **ERRORS}}},
            "/collections": {
                **_post("Create a collection (scope collect); a launch holder's starts at once",
                        "createCollection", {"201": _json(_ref("Collection"))},
                        body={"required": True, "content": {"multipart/form-data": {"schema": {
                            "type": "object", "required": ["file", "signers"],
                            "properties": {
                                "file": {"type": "array", "items": {"type": "string",
                                                                    "format": "binary"}},
                                "signers": {"type": "string",
                                            "description": 'JSON: [{"name","email","phone"}]'},
                                "title": {"type": "string"}, "message": {"type": "string"},
                                "ordered": {"type": "boolean"},
                                "expiry_days": {"type": "integer"}}}}}},
                        extra={"402": _problem("Not enough credit")}),
                "get": {"summary": "Collections of the cabinet, newest first (scope read)",
                        "operationId": "listCollections",
                        "parameters": [
                            {"name": "state", "in": "query", "schema": {"enum": list(STATES)}},
                            {"name": "created_after", "in": "query",
                             "schema": {"type": "string", "format": "date-time"}},
                            {"name": "created_before", "in": "query",
                             "schema": {"type": "string", "format": "date-time"}},
                            {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                            {"name": "limit", "in": "query",
                             "schema": {"type": "integer", "minimum": 1, "maximum": 100}}],
                        "responses": {"200": _json(_ref("CollectionPage")), **ERRORS}}},
            "/collections/{id}": {"get": {
                "summary": "One collection and its signers (scope read)",
                "operationId": "getCollection", "parameters": [COLLECTION_ID],
                "responses": {"200": _json(_ref("Collection")),
                              "404": _problem("No such collection in the key's cabinet"),
                              **ERRORS}}},
            "/collections/{id}/launch": _collection_action(
                "launch", "Approve and launch a prepared collection (scope collect)"),
            "/collections/{id}/cancel": _collection_action(
                "cancel", "Cancel a collection (scope collect)"),
            "/collections/{id}/remind": _collection_action(
                "remind", "Remind the signers who have not signed (scope collect)"),
            "/collections/{id}/documents/{position}": {"get": {
                "summary": "A document of the collection, signed as far as it goes (scope read)",
                "operationId": "getCollectionDocument",
                "parameters": [COLLECTION_ID, {"name": "position", "in": "path",
                                               "required": True,
                                               "schema": {"type": "integer"}}],
                "responses": {"200": {"description": "The PDF", "content": {
                    "application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
                    "404": _problem("No such collection or document"), **ERRORS}}},
            "/collections/{id}/evidence": {"get": {
                "summary": "The sealed evidence report (JSON, or PDF by Accept) (scope read)",
                "description": "The JSON is the stored bytes whose SHA-256 the PDF prints; the "
                               "PDF (a certificate of evidence, PDF/A-3 with the JSON attached) "
                               "exists once the collection has ended.",
                "operationId": "getEvidenceReport",
                "parameters": [COLLECTION_ID, {"name": "lang", "in": "query", "required": False,
                                               "schema": {"enum": ["fr", "en"]},
                                               "description": "Language of the PDF "
                                                              "(default: the initiator's)"}],
                "responses": {"200": {"description": "The report", "content": {
                    "application/json": {"schema": {"type": "object"}},
                    "application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
                    "404": _problem("No such collection or no report yet"), **ERRORS}}},
            "/collections/{id}/evidence.p7s": {"get": {
                "summary": "The detached CAdES signature (DER) of the evidence report's JSON, "
                           "by the platform's seal (scope read)",
                "operationId": "getEvidenceSignature", "parameters": [COLLECTION_ID],
                "responses": {"200": {"description": "The signature", "content": {
                    "application/pkcs7-signature": {"schema": {"type": "string",
                                                               "format": "binary"}}}},
                    "404": _problem("No such collection or no report yet"), **ERRORS}}},
        },
    }


async def serve(request: web.Request) -> web.Response:
    return web.json_response(document())


def add(router: web.UrlDispatcher) -> None:
    router.add_get("/openapi.json", serve)
