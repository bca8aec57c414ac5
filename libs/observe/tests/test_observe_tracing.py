"""Tracing's rules without a network: when the `OTEL_*` variables turn it on, which
`service.name` a process gets, and the trace context's round trip through message headers."""

from __future__ import annotations

import pytest
from cc_observe import tracing
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from tests.support.span_recorder import recorded_spans


@pytest.mark.parametrize(
    ("env", "wanted"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "x"}, False),  # a name alone exports nothing
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),  # the default endpoint, localhost:4318
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "false"}, True),
    ],
)
def test_tracing_is_on_only_when_an_otlp_export_is_asked_for(
    env: dict[str, str], wanted: bool
) -> None:
    assert tracing.tracing_wanted(env) is wanted


def test_off_installs_nothing() -> None:
    assert not tracing.setup_tracing("planner", env={}).enabled
    tracing.Tracing().shutdown()  # nothing to flush: a no-op


def test_the_service_names_itself_unless_otel_service_name_says_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
    resource = tracing.service_resource("executor-local")
    assert resource.attributes["service.name"] == "executor-local"
    assert resource.attributes["deployment.environment"] == "test"

    monkeypatch.setenv("OTEL_SERVICE_NAME", "cc-exec-eu")
    assert tracing.service_resource("executor-local").attributes["service.name"] == "cc-exec-eu"

    monkeypatch.delenv("OTEL_SERVICE_NAME")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attributes")
    resource = tracing.service_resource("executor-local")
    assert resource.attributes["service.name"] == "from-attributes"


def test_outside_a_trace_headers_stay_as_they_are() -> None:
    assert tracing.inject({"Nats-Msg-Id": "m1"}) == {"Nats-Msg-Id": "m1"}
    assert tracing.current_trace_id() is None


def test_the_trace_context_round_trips_through_message_headers() -> None:
    spans = recorded_spans()
    with tracing.producer_span("dispatch cc.task.dispatch.local") as sent:
        headers = tracing.inject({"Nats-Msg-Id": "task-1:1"})
    assert headers["Nats-Msg-Id"] == "task-1:1"  # the dedup id is kept
    sent_ctx = sent.get_span_context()
    assert headers["traceparent"] == (
        f"00-{sent_ctx.trace_id:032x}-{sent_ctx.span_id:016x}-{sent_ctx.trace_flags:02x}"
    )

    remote = trace.get_current_span(tracing.extract(headers)).get_span_context()
    assert (remote.trace_id, remote.span_id, remote.is_remote) == (
        sent_ctx.trace_id,
        sent_ctx.span_id,
        True,
    )

    with tracing.consumer_span("executor-local process", headers, {"a": 1}) as handling:
        assert tracing.current_trace_id() == f"{sent_ctx.trace_id:032x}"
        with tracing.span("agent"):
            pass
    handled = _by_name(spans.get_finished_spans())
    assert handled["executor-local process"].kind is SpanKind.CONSUMER
    assert handled["dispatch cc.task.dispatch.local"].kind is SpanKind.PRODUCER
    assert handled["executor-local process"].parent is not None
    assert handled["executor-local process"].parent.span_id == sent_ctx.span_id
    agent_parent = handled["agent"].parent
    assert agent_parent is not None
    assert agent_parent.span_id == handling.get_span_context().span_id


@pytest.mark.parametrize(
    "headers",
    [
        None,
        {},
        {"Nats-Msg-Id": "m1"},  # an old writer's, a replayed or hand-made message
        {"traceparent": "not-a-traceparent"},
        {"traceparent": "00-00000000000000000000000000000000-0000000000000000-01"},
    ],
)
def test_a_message_without_a_valid_context_starts_a_new_trace(
    headers: dict[str, str] | None,
) -> None:
    spans = recorded_spans()
    with tracing.span("unrelated outer span"), tracing.consumer_span("x process", headers):
        pass
    handled = _by_name(spans.get_finished_spans())["x process"]
    assert handled.parent is None  # a root: neither the headers nor the caller's span
    assert handled.context is not None and handled.context.is_valid


def test_an_ended_span_can_be_made_current_again_for_what_follows() -> None:
    spans = recorded_spans()
    with tracing.span("handling") as handling:
        pass
    with tracing.within(handling):
        headers = tracing.inject({})
    assert f"{handling.get_span_context().span_id:016x}" in headers["traceparent"]
    assert [s.name for s in spans.get_finished_spans()] == ["handling"]


def _by_name(spans: tuple[ReadableSpan, ...]) -> dict[str, ReadableSpan]:
    return {s.name: s for s in spans}
