"""Every request and mail carries an id through its log lines (JSON when asked), one access
line per request that names the route and never a token, and the process's latencies and
counts in /metrics: requests by area, seals by channel, codes refused, credit refusals, SQL
statements and the process's CPU."""

from __future__ import annotations

import io
import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from paraphe import logs
from paraphe.metrics import REGISTRY
from tests.web.signer_site import site  # noqa: F401 - fixture
from tests.workflows.collection_world import (  # noqa: F401 - fixtures
    code_of,
    link_of,
    pdf,
    world_settings,
)
from workflows import billing, collections, sealing
from workflows.actors import Actor
from workflows.collections import SignerSpec
from workflows.errors import CreditInsufficientError


@pytest.fixture
def json_log():
    """The root logger writing JSON lines to a buffer; the earlier configuration after."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    buffer = io.StringIO()
    logs.configure("json", "INFO", stream=buffer)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def _value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def _scrape(site) -> dict:
    async with site.session.get(f"{site.base}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_each_request_has_an_id_in_its_answer_and_its_json_log_lines(site, json_log):
    async with site.session.get(f"{site.base}/healthz",
                                headers={"X-Request-Id": "lb-4f2a.17"}) as r:
        assert r.status == 200 and r.headers["X-Request-Id"] == "lb-4f2a.17"
    # An id that is not plain (a header injection attempt) is replaced by a new one.
    async with site.session.get(f"{site.base}/healthz",
                                headers={"X-Request-Id": "x\tSet-Cookie: a=b"}) as r:
        fresh = r.headers["X-Request-Id"]
        assert fresh != "x\tSet-Cookie: a=b" and fresh.isalnum() and len(fresh) == 16
    lines = [line for line in json_log() if line["logger"] == "paraphe.web.access"]
    assert [line["correlation_id"] for line in lines] == ["lb-4f2a.17", fresh]
    assert lines[0]["message"].startswith("GET /healthz 200 ") and lines[0]["level"] == "INFO"
    assert {"time", "level", "logger", "message", "correlation_id"} <= set(lines[0])


async def test_the_access_line_names_the_route_never_the_signers_token(site, json_log):
    collection = await collections.create_collection(
        site.world.svc, site.world.actor(site.world.expert), cabinet="dupre",
        documents=[("lettre.pdf", pdf())], signers=[SignerSpec("Client", "c@example.test")])
    assert collection.state == "in_progress"
    link = await link_of("c@example.test")
    token = link.rsplit("/", 1)[1]
    before = _value("paraphe_http_request_seconds_count", area="signer", status="2xx")
    async with site.session.get(link) as r:
        assert r.status == 200
        request_id = r.headers["X-Request-Id"]
    text = "\n".join(json.dumps(line) for line in json_log())
    assert token not in text
    (line,) = [x for x in json_log() if x["correlation_id"] == request_id
               and x["logger"] == "paraphe.web.access"]
    assert line["message"].startswith("GET /s/{token} 200 ")
    assert _value("paraphe_http_request_seconds_count", area="signer", status="2xx") == before + 1


async def test_metrics_count_seals_by_channel_codes_refused_and_credit_refusals(site):
    w = site.world
    before = await _scrape(site)
    await sealing.seal_document(w.svc, w.actor(w.expert, channel="mail"), cabinet="dupre",
                                filename="facture.pdf", data=pdf("Facture"))
    # A wrong signer code, then the fifth wrong one that locks it.
    await collections.create_collection(
        w.svc, w.actor(w.expert), cabinet="dupre", documents=[("l.pdf", pdf())],
        signers=[SignerSpec("Client", "c@example.test")])
    link = await link_of("c@example.test")
    assert (await site.session.post(link + "/code", data={"channel": "mail"},
                                    allow_redirects=False)).status == 303
    wrong = f"{(int(await code_of('c@example.test')) + 1) % 1000000:06d}"
    statuses = [(await site.session.post(link + "/sign", data={"code": wrong, "consent": "yes"},
                                         allow_redirects=False)).status for _ in range(5)]
    assert statuses == [422, 422, 422, 422, 403]
    # A seal for a cabinet with no credit left.
    await billing.debit(w.cabinet, await billing.balance(w.cabinet), operation="test",
                        reference="drain")
    with pytest.raises(CreditInsufficientError):
        await sealing.seal_document(w.svc, Actor.operator(), cabinet="dupre",
                                    filename="x.pdf", data=pdf("X"))
    after = await _scrape(site)

    def delta(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert delta("paraphe_seal_seconds_count", channel="mail") == 1
    assert delta("paraphe_seal_seconds_sum", channel="mail") > 0
    assert delta("paraphe_codes_refused_total", kind="signer", outcome="wrong") == 4
    assert delta("paraphe_codes_refused_total", kind="signer", outcome="locked") == 1
    assert delta("paraphe_credit_refusals_total") == 1
    # The seal's job went through the signing pool and left it: none in it now.
    assert delta("paraphe_signing_job_seconds_count") >= 1
    assert after[("paraphe_signing_workers", ())] == w.svc.engine.workers
    assert after[("paraphe_signing_jobs", ())] == 0
    # What the benchmarks divide by the operations: statements sent and the main process's CPU.
    assert delta("paraphe_db_statements_total") >= 20
    assert delta("process_cpu_seconds_total") > 0
