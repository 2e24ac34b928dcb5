"""What a benchmark reads off the service's /metrics around its load: the SQL statements the
main process sent and the CPU it used, divided by the operations done."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

STATEMENTS = "paraphe_db_statements_total"
CPU = "process_cpu_seconds_total"


def scrape(base_url: str) -> dict[str, float]:
    """Each sample of /metrics summed over its labels, by name."""
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=30) as response:
        text = response.read().decode()
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


def per_operation(before: dict[str, float], after: dict[str, float], operations: int) -> dict:
    """statements_per_op and main_cpu_ms_per_op between two scrapes (the scrapes themselves
    cost a few statements and a little CPU: negligible over hundreds of operations)."""
    if operations <= 0:
        return {"statements_per_op": None, "main_cpu_ms_per_op": None}
    statements = after.get(STATEMENTS, 0.0) - before.get(STATEMENTS, 0.0)
    cpu = after.get(CPU, 0.0) - before.get(CPU, 0.0)
    return {"statements_per_op": round(statements / operations, 1),
            "main_cpu_ms_per_op": round(1000 * cpu / operations, 2)}
