"""This process's own metrics (prometheus_client): latencies and counts, kept in memory and
exposed by /metrics beside the gauges read from the database. Each instance of the fleet
exposes its own; Prometheus sums them.

The core tells what happened through workflows.observations; this module listens to it.
"""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

from workflows import observations

REGISTRY = CollectorRegistry(auto_describe=True)
# This process's CPU, memory and open files (process_cpu_seconds_total…): the signing
# workers are processes of their own, so this is the main loop's share.
ProcessCollector(registry=REGISTRY)
# Web requests: a signer's page in tens of ms, an API seal in a few, a PDF upload in seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

REQUEST_SECONDS = Histogram(
    "paraphe_http_request_seconds", "Web requests by area (s, r, c, api, trust, ops) and status "
    "class", ["area", "status"], buckets=LATENCY_BUCKETS, registry=REGISTRY)
SEAL_SECONDS = Histogram(
    "paraphe_seal_seconds", "Seals from intake to commit, by channel", ["channel"],
    buckets=LATENCY_BUCKETS, registry=REGISTRY)
MAILS = Counter(
    "paraphe_mails", "Mail by outcome: accepted (250 given), answered (a reply recorded), "
    "quarantined (set aside)", ["outcome"], registry=REGISTRY)
CODES_REFUSED = Counter(
    "paraphe_codes_refused", "One-time codes refused: wrong, or the wrong try that locked the code",
    ["kind", "outcome"], registry=REGISTRY)
CREDIT_REFUSALS = Counter(
    "paraphe_credit_refusals", "Operations refused for want of credit", registry=REGISTRY)
STATEMENTS = Counter(
    "paraphe_db_statements", "SQL statements this process sent to the database", registry=REGISTRY)
SIGNING_JOBS = Gauge(
    "paraphe_signing_jobs", "Jobs in the signing workers' pool (running or waiting for a "
    "worker); above paraphe_signing_workers, seals queue", registry=REGISTRY)
SIGNING_WORKERS = Gauge(
    "paraphe_signing_workers", "Processes of the signing pool", registry=REGISTRY)
SIGNING_JOB_SECONDS = Histogram(
    "paraphe_signing_job_seconds", "Jobs of the signing pool, from submission to result",
    buckets=LATENCY_BUCKETS, registry=REGISTRY)
SWEEP_SECONDS = Histogram(
    "paraphe_sweep_seconds", "Scheduled sweeps run by this instance, by sweep", ["sweep"],
    buckets=LATENCY_BUCKETS, registry=REGISTRY)


def _observed(event: str, labels: dict) -> None:
    if event == "seal":
        SEAL_SECONDS.labels(labels.get("channel", "unknown")).observe(labels["seconds"])
    elif event == "code_refused":
        CODES_REFUSED.labels(labels.get("kind", "signer"), labels.get("outcome", "wrong")).inc()
    elif event == "credit_refused":
        CREDIT_REFUSALS.inc()
    elif event == "signing_job_started":
        SIGNING_WORKERS.set(labels["workers"])
        SIGNING_JOBS.inc()
    elif event == "signing_job":
        SIGNING_JOBS.dec()
        SIGNING_JOB_SECONDS.observe(labels["seconds"])
    elif event == "sweep":
        SWEEP_SECONDS.labels(labels["sweep"]).observe(labels["seconds"])


class _CountStatements(logging.Filter):
    """tortoise logs each statement at DEBUG on `tortoise.db_client`, its arguments unformatted:
    counted here, then dropped unless the service logs at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        STATEMENTS.inc()
        return logging.getLogger().getEffectiveLevel() <= logging.DEBUG


_statements = logging.getLogger("tortoise.db_client")
_statements.setLevel(logging.DEBUG)
_statements.addFilter(_CountStatements())

# The metrics are the process's: whoever imports them (web, mail gateway, bot) counts what
# the core tells, once.
observations.listen(_observed)
