"""Low credit: the experts are told once each time a debit takes the cabinet below the threshold."""

from __future__ import annotations

from workflows import notifications
from workflows.models import Cabinet


def crossed(before: int, after: int, threshold: int | None) -> bool:
    """True when the available credit went from at or above `threshold` to below it."""
    return threshold is not None and after < threshold <= before


async def low_credit(cabinet_id: int, *, balance: int, threshold: int, entry_id: int) -> int:
    """Records the low-credit notice for every expert of the cabinet; returns how many.

    Called inside the debit's transaction: the notice exists exactly when the debit
    does. The dedup key names the ledger entry that crossed the threshold, so one
    crossing gives one notice per expert; credit added back above the threshold and
    taken below it again is a new crossing.
    """
    cabinet = await Cabinet.get(id=cabinet_id)
    context = {"cabinet": cabinet.slug, "cabinet_name": cabinet.name, "balance": balance,
               "threshold": threshold}
    return len(await notifications.to_experts(
        cabinet_id, "expert/low_credit", context,
        dedup_key=f"cabinet:{cabinet_id}:low_credit:{entry_id}"))
