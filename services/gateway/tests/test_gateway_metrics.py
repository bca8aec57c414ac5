"""`GET /metrics` on the gateway: the read model's runs, JetStream's queue depths, the HTTP
request metrics (refusals of the auth middleware included); and an answer with the last
figures while NATS is away."""

from __future__ import annotations

import uuid

import pytest
from commandcenter.servers import NatsServer
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.integration

Client = AsyncTestClient[Litestar]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
RUN = {"plan_path": "docs/plans/TWO.md"}


async def scrape(client: Client) -> Samples:
    r = await client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= ls)


async def test_metrics_show_runs_queues_streams_and_requests(client: Client) -> None:
    r = await client.post("/api/v1/runs", json=RUN)
    assert r.status_code == 202, r.text

    seen = await scrape(client)
    # No planner runs here: the run stays accepted, its phase start waits on `planner`.
    assert value(seen, "cc_runs", status="accepted") == 1
    assert value(seen, "cc_runs", status="succeeded") == 0
    assert value(seen, "cc_queue_pending", consumer="gateway-projector") >= 0
    assert ("cc_queue_pending", frozenset({("consumer", "gateway-dead-letters")})) in seen
    assert value(seen, "cc_sse_clients") == 0
    started = {"method": "POST", "path": "/api/v1/runs", "status_code": "202"}
    assert value(seen, "cc_http_requests_total", **started) >= 1
    assert value(seen, "cc_http_request_duration_seconds_count", **started) >= 1
    schema = (await client.get("/schema/openapi.json")).json()
    assert "/metrics" not in schema["paths"]


async def test_refusals_and_answers_are_counted_under_their_status(client: Client) -> None:
    runs = "/api/v1/runs"
    before = await scrape(client)  # the registry is the process's: counts are compared
    request = client.build_request("GET", runs)
    del request.headers["Authorization"]
    assert (await client.send(request)).status_code == 401  # refused before the route
    assert (await client.get(runs)).status_code == 200
    assert (await client.get(f"{runs}/{uuid.uuid4()}")).status_code == 404  # by the route
    after = await scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    listed = {"method": "GET", "path": runs}
    one = {"method": "GET", "path": "/api/v1/runs/{run_id}"}  # the template, not the id
    assert grew("cc_http_requests_total", **listed, status_code="401") == 1
    assert grew("cc_http_requests_total", **listed, status_code="200") == 1
    assert grew("cc_http_requests_total", **one, status_code="404") == 1
    assert grew("cc_http_request_duration_seconds_count", **listed) == 2
    assert grew("cc_http_requests_error_total", **listed) == 0
    assert value(after, "cc_http_requests_in_progress", **listed) == 0
    assert value(after, "cc_http_requests_in_progress", method="GET", path="/metrics") == 1
    assert all(
        ("app_name", "gateway") in labels
        for name, labels in after
        if name.startswith("cc_http_requests_total")
    )


async def test_metrics_answer_with_the_last_figures_while_nats_is_away(
    client: Client, nats_server: NatsServer
) -> None:
    assert (
        await client.post("/api/v1/runs", json={"plan_path": "docs/plans/TWO.md"})
    ).status_code == 202
    before = await scrape(client)
    nats_server.stop()
    try:
        during = await scrape(client)
    finally:
        nats_server.start()
    queues = {k: v for k, v in before.items() if k[0] == "cc_queue_pending"}
    assert queues and {k: during[k] for k in queues} == queues
    assert value(during, "cc_runs", status="accepted") == 1  # PostgreSQL still answers
