"""Validation data a large collection keeps from each signature, written once at completion.

Up to signing.INLINE_DSS_MAX_SIGNERS signers, each signature carries its validation data in its own
DSS update (B-LT at once). Above, pyHanko's re-reading of an ever larger DSS at every
signature dominates: the data is gathered when each signer signs (while their one-time
certificate is valid) and written in one DSS update with the document timestamp.
"""

from __future__ import annotations

import base64

from workflows.models import Signer
from workflows.trust.refs import ValidationBundle


def bundle_to_json(bundle) -> dict:
    return {name: [base64.b64encode(d).decode() for d in getattr(bundle, name)]
            for name in ("certs", "crls", "ocsps")}


async def deferred_bundle(svc, collection_id: int) -> ValidationBundle:
    """The validation data gathered from the signers of a large collection, with the
    trust service's current data for the TSA chain, merged for one DSS update."""
    fresh = await svc.trust.validation_bundle([])
    merged = {name: dict.fromkeys(getattr(fresh, name)) for name in ("certs", "crls", "ocsps")}
    for data in await Signer.filter(collection_id=collection_id,
                                    validation_data__not_isnull=True).values_list(
            "validation_data", flat=True):
        for name, found in merged.items():
            for item in data.get(name, []):
                found[base64.b64decode(item)] = None
    return ValidationBundle(certs=tuple(merged["certs"]), crls=tuple(merged["crls"]),
                            ocsps=tuple(merged["ocsps"]), orders=fresh.orders)
