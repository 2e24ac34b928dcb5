"""Tortoise models, one module per aggregate; the app label is ``models``."""

from workflows.models.apikeys import ApiIdempotency, ApiKey
from workflows.models.cabinet_sessions import CabinetSession
from workflows.models.cabinets import Cabinet, Tariff, TermsAcceptance
from workflows.models.certificates import Certificate
from workflows.models.collections import Collection, CollectionDocument, Signer, SignerCode
from workflows.models.documents import Document
from workflows.models.evidence import EvidenceAnchor, EvidenceEvent, EvidenceHead
from workflows.models.leases import Lease
from workflows.models.ledger import LedgerEntry, Reservation
from workflows.models.operations import Operation
from workflows.models.outbox import Notification
from workflows.models.people import Delegation, Membership, Person
from workflows.models.rate_buckets import RateBucket
from workflows.models.registration import (
    IdentityDocument,
    PersonCode,
    Registration,
    RegistrationLink,
)
from workflows.models.shared_store import DocumentChunk, IdentityBlob, StoredKey
from workflows.models.webhooks import WebhookCursor, WebhookDelivery, WebhookEndpoint, WebhookEvent

__all__ = [
    "Cabinet", "CabinetSession", "Tariff", "TermsAcceptance", "Certificate", "Collection",
    "CollectionDocument", "Signer", "Document", "EvidenceEvent", "EvidenceHead",
    "EvidenceAnchor",
    "LedgerEntry", "Reservation", "Notification", "Operation", "Delegation", "Membership", "Person",
    "ApiKey", "ApiIdempotency", "WebhookEndpoint", "WebhookEvent", "WebhookCursor",
    "WebhookDelivery", "SignerCode",
    "Registration", "IdentityDocument", "PersonCode", "RegistrationLink", "Lease", "RateBucket",
    "DocumentChunk", "StoredKey", "IdentityBlob",
]
