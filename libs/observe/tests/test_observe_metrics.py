"""cc_observe.metrics: settings, the metrics server, the task and consumer families, snapshots."""

from __future__ import annotations

import socket
import urllib.request

import pytest
from cc_observe.metrics import (
    MetricsServerError,
    MetricsSettings,
    Snapshot,
    StepDurations,
    agent_spent,
    message_settled,
    serving_metrics,
    task_finished,
    task_metrics,
)
from commandcenter_contracts import Env, SettingsError
from prometheus_client import REGISTRY, CollectorRegistry, Counter, generate_latest
from prometheus_client.parser import text_string_to_metric_families


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- settings ------------------------------------------------------------------------------------
def test_metrics_are_off_unless_a_port_is_given() -> None:
    assert MetricsSettings.from_env(Env({})) == MetricsSettings(port=0, host="127.0.0.1")
    read = MetricsSettings.from_env(Env({"CC_METRICS_PORT": "9464", "CC_METRICS_HOST": "0.0.0.0"}))
    assert read == MetricsSettings(port=9464, host="0.0.0.0")


@pytest.mark.parametrize("raw", ["nine", "-1", "70000"])
def test_a_bad_port_names_the_variable(raw: str) -> None:
    with pytest.raises(SettingsError, match="CC_METRICS_PORT"):
        MetricsSettings.from_env(Env({"CC_METRICS_PORT": raw}))


# --- serving -------------------------------------------------------------------------------------
def test_the_server_answers_metrics_on_its_port_while_the_block_runs() -> None:
    registry = CollectorRegistry()
    Counter("cc_test_things_total", "things", registry=registry).inc(3)
    port = free_port()
    with serving_metrics(MetricsSettings(port=port), registry=registry) as serving:
        assert serving == port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    assert "cc_test_things_total 3.0" in text
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", port), timeout=1),
    ):
        pass  # closed on the way out


def test_port_zero_serves_nothing() -> None:
    with serving_metrics(MetricsSettings(port=0)) as serving:
        assert serving is None


def test_a_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with (
            pytest.raises(MetricsServerError, match=f"CC_METRICS_PORT: cannot listen on .*:{port}"),
            serving_metrics(MetricsSettings(port=port)),
        ):
            pass


# --- executors and consumers ---------------------------------------------------------------------
def test_task_outcomes_and_costs_are_counted_by_their_labels() -> None:
    task_metrics()
    before = value("cc_tasks_finished_total", mode="local", outcome="succeeded")
    task_finished("local", "succeeded")
    task_finished("local", "succeeded")
    assert value("cc_tasks_finished_total", mode="local", outcome="succeeded") == before + 2

    spent = value("cc_agent_cost_usd_total", model="claude-test")
    agent_spent("claude-test", 0.25)
    agent_spent("claude-test", 0.0)  # a free run adds nothing
    assert value("cc_agent_cost_usd_total", model="claude-test") == pytest.approx(spent + 0.25)
    unknown = value("cc_agent_cost_usd_total", model="unknown")
    agent_spent(None, 0.5)
    assert value("cc_agent_cost_usd_total", model="unknown") == pytest.approx(unknown + 0.5)


def test_the_task_families_are_made_once() -> None:
    assert task_metrics() is task_metrics()


def test_an_attempts_step_durations_are_one_observation_per_step() -> None:
    durations = StepDurations()
    durations.add("isolate", 0.5)
    durations.add("isolate", 0.25)  # the checkout, then the start from the integration tip
    with durations.timing("agent"):
        pass
    assert durations.seconds["isolate"] == pytest.approx(0.75)
    assert set(durations.seconds) == {"isolate", "agent"}

    count = value("cc_task_step_seconds_count", mode="dagger", step="isolate")
    total = value("cc_task_step_seconds_sum", mode="dagger", step="isolate")
    durations.record("dagger")
    assert value("cc_task_step_seconds_count", mode="dagger", step="isolate") == count + 1
    assert value("cc_task_step_seconds_sum", mode="dagger", step="isolate") == pytest.approx(
        total + 0.75
    )
    assert durations.seconds == {}  # recorded once


def test_settled_messages_are_counted_per_durable_and_result() -> None:
    before = value("cc_messages_settled_total", consumer="planner-test", result="ack")
    message_settled("planner-test", "ack")
    assert value("cc_messages_settled_total", consumer="planner-test", result="ack") == before + 1


# --- snapshots -----------------------------------------------------------------------------------
def samples(registry: CollectorRegistry, name: str) -> dict[str, float]:
    text = generate_latest(registry).decode()
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == name:
            for sample in family.samples:
                found[next(iter(sample.labels.values()))] = sample.value
    return found


def test_a_snapshot_shows_the_last_figures_as_a_whole() -> None:
    registry = CollectorRegistry()
    runs = Snapshot(
        "cc_test_runs", "runs", "status", always=["running", "failed"], registry=registry
    )
    assert samples(registry, "cc_test_runs") == {"running": 0.0, "failed": 0.0}
    runs.set({"running": 2, "succeeded": 5})
    assert samples(registry, "cc_test_runs") == {"running": 2.0, "failed": 0.0, "succeeded": 5.0}
    runs.set({"failed": 1})  # a status no run has any more goes back to 0 or away
    assert samples(registry, "cc_test_runs") == {"running": 0.0, "failed": 1.0}


def test_two_snapshots_of_one_name_are_refused() -> None:
    registry = CollectorRegistry()
    Snapshot("cc_test_queue", "queue", "consumer", registry=registry)
    with pytest.raises(ValueError, match="Duplicated"):
        Snapshot("cc_test_queue", "queue", "consumer", registry=registry)
