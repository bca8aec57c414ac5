"""`setup_tracing` in a real process, exporting to a real OTLP/HTTP collector: the spans arrive,
flushed by `shutdown` at the stop (the batch delay is set far beyond the test), under the
service's name; with no `OTEL_*` set the process gets no SDK at all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.support.otlp_collector import OtlpCollector

pytestmark = pytest.mark.integration

CHILD = textwrap.dedent(
    """
    import json, sys
    from opentelemetry import trace
    from cc_observe import tracing

    setup = tracing.setup_tracing("planner")
    with tracing.span("outer", {"cc.run_id": "r1"}):
        with tracing.span("inner"):
            pass
    setup.shutdown()
    print(json.dumps({
        "enabled": setup.enabled,
        "provider": type(trace.get_tracer_provider()).__name__,
        "sdk_loaded": "opentelemetry.sdk.trace" in sys.modules,
    }))
    """
)


def _run_child(env: dict[str, str]) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-c", CHILD],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def test_spans_are_exported_and_flushed_on_shutdown() -> None:
    with OtlpCollector() as collector:
        child = _run_child(
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
                "OTEL_BSP_SCHEDULE_DELAY": "600000",  # only the shutdown can have sent them
            }
        )
        spans = {s.name: s for s in collector.spans()}
    assert child["enabled"] is True
    assert set(spans) == {"outer", "inner"}
    assert {s.service for s in spans.values()} == {"planner"}
    assert spans["inner"].trace_id == spans["outer"].trace_id
    assert spans["inner"].parent_span_id == spans["outer"].span_id
    assert spans["outer"].attributes["cc.run_id"] == "r1"
    assert collector.rejected == 0


def test_otel_service_name_overrides_the_services_own() -> None:
    with OtlpCollector() as collector:
        _run_child(
            {
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{collector.endpoint}/v1/traces",
                "OTEL_SERVICE_NAME": "cc-planner-eu",
            }
        )
        assert {s.service for s in collector.spans()} == {"cc-planner-eu"}


def test_without_otel_variables_there_is_no_sdk_and_nothing_is_sent() -> None:
    child = _run_child({})
    assert child == {"enabled": False, "provider": "ProxyTracerProvider", "sdk_loaded": False}
