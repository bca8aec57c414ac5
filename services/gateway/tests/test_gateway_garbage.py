"""Throw garbage at every POST endpoint: the answer is always a JSON 4xx, never a 500."""

from __future__ import annotations

import json

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

pytestmark = pytest.mark.integration

POST_ENDPOINTS = ("/api/v1/runs", "/api/v1/autonomous/start", "/api/v1/plans/parse")

JUNK_VALUES: list[object] = [
    None,
    True,
    0,
    -1,
    10**30,
    -(10**30),
    1.5e308,
    "",
    " ",
    "\u0000",
    "💥" * 5000,
    "../../../../etc/passwd",
    "a" * 100_000,
    [],
    [1, "two", None],
    {},
    {"nested": {"deeper": [{"deepest": None}]}},
]
FIELDS = (
    "plan_path",
    "text",
    "start_batch",
    "end_batch",
    "phase",
    "execution_mode",
    "mode",
    "repo",
    "base_ref",
    "remote",
    "agent",
    "agent_argv",
    "timeout_s",
    "continue_on_failure",
)
RAW_BODIES: list[bytes] = [
    b"",
    b"null",
    b"[]",
    b"42",
    b'"plan_path"',
    b"{",
    b"}{",
    b'{"plan_path": "x",}',
    b'{"plan_path": NaN}',
    b'{"plan_path": 1e999}',
    b"\xff\xfe\x00\x00",
    b'{"plan_path": "\\ud800"}',
    b'{"plan_path": "x"' + b" " * 10_000,
    b"[" * 10_000 + b"]" * 10_000,
    b'{"a":' * 2_000 + b"1" + b"}" * 2_000,
    '{"plan_path": "ünïcödé/ファイル.md"}'.encode(),
    b"plan_path=docs/plans/TWO.md",
]


def _assert_4xx(endpoint: str, status: int, text: str) -> None:
    assert 400 <= status < 500, f"{endpoint}: {status} {text[:300]}"
    body = json.loads(text)
    assert body["status_code"] == status
    assert body["detail"]


async def test_junk_in_every_field(client: AsyncTestClient[Litestar]) -> None:
    for endpoint in POST_ENDPOINTS:
        for field in FIELDS:
            for value in JUNK_VALUES:
                body = {field: value}
                if field != "plan_path" and endpoint != "/api/v1/plans/parse":
                    body["plan_path"] = "docs/plans/NOPE.md"
                r = await client.post(endpoint, json=body)
                if endpoint.endswith("/parse") and field == "text" and isinstance(value, str):
                    # any text is a plan (maybe an empty one, with warnings)
                    assert r.status_code == 200, r.text
                    assert "batches" in r.json()
                    continue
                _assert_4xx(endpoint, r.status_code, r.text)


async def test_raw_junk_bodies(client: AsyncTestClient[Litestar]) -> None:
    for endpoint in POST_ENDPOINTS:
        for raw in RAW_BODIES:
            for headers in (
                {"Content-Type": "application/json"},
                {},  # no content type at all
                {"Content-Type": "text/plain"},
                {"Content-Type": "application/x-www-form-urlencoded"},
                {"Content-Type": "multipart/form-data; boundary=zzz"},
            ):
                r = await client.post(endpoint, content=raw, headers=headers)
                _assert_4xx(endpoint, r.status_code, r.text)


async def test_junk_headers_and_query(client: AsyncTestClient[Litestar]) -> None:
    r = await client.post(
        "/api/v1/runs",
        json={"plan_path": "docs/plans/NOPE.md"},
        headers={"Idempotency-Key": "k" * 1000},
    )
    _assert_4xx("/api/v1/runs", r.status_code, r.text)
    for value in ("-1", "abc", "1e9999", "9" * 40):
        r = await client.get(
            "/api/v1/runs/00000000-0000-0000-0000-000000000000/events",
            headers={"Last-Event-ID": value},
        )
        _assert_4xx("events", r.status_code, r.text)
