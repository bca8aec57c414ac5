"""Prometheus metrics: what the services count, and how a service serves them.

    with serving_metrics(settings.metrics):   # planner, executors: /metrics on CC_METRICS_PORT
        asyncio.run(app.run())

The gateway answers `/metrics` on its API port instead (litestar's `PrometheusController`).

Every metric lives in prometheus_client's default registry. That is process-wide state on
purpose: a process has one `/metrics`, whichever of its parts counts. The families are made on
first use (`task_metrics()`, `consumer_metrics()`), so a process shows only the families of
what it does: the gateway never lists task metrics. Names and labels are what dashboards and
alerts are written against: change them only with a note in the changelog.

- Executors: `cc_tasks_finished_total{mode,outcome}`, `cc_task_step_seconds{mode,step}`,
  `cc_agent_cost_usd_total{model}`, `cc_integration_races_lost_total{mode}`,
  `cc_integration_turn_wait_seconds{mode}`.
- Every durable consumer: `cc_messages_settled_total{consumer,result}`.
- `Snapshot`: a gauge family for figures that live elsewhere (the gateway's queue depths and
  run counts): set as a whole by asyncio code, read by the exposition without awaiting.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

log = logging.getLogger(__name__)

STEP_BUCKETS: tuple[float, ...] = (
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0
)  # fmt: skip
"""From a git command on a small repository (tens of ms) to an agent's hour."""

TURN_WAIT_BUCKETS: tuple[float, ...] = (
    0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0
)  # fmt: skip
"""From a free turn (a millisecond: bus round trips) to the longest wait (10 minutes)."""

UNKNOWN_MODEL = "unknown"


# --- settings and serving ------------------------------------------------------------------------
class SettingsReader(Protocol):
    """What `MetricsSettings.from_env` needs of the services' reader
    (`commandcenter_contracts.Env`)."""

    def whole(
        self,
        name: str,
        default: int,
        *,
        low: int | None = None,
        high: int | None = None,
        positive: bool = False,
    ) -> int: ...

    def text(self, name: str, default: str) -> str: ...


@dataclass(frozen=True, kw_only=True)
class MetricsSettings:
    port: int = 0
    """`CC_METRICS_PORT`: where the service answers `GET /metrics`; 0 (the default): nowhere.
    Off unless asked for, because two services on one machine cannot share a port; `up`, the
    Compose file and the Kubernetes manifests set it."""
    host: str = "127.0.0.1"
    """`CC_METRICS_HOST`: the interface it listens on (`0.0.0.0` in a container, so that
    Prometheus can reach it)."""

    @classmethod
    def from_env(cls, env: SettingsReader) -> MetricsSettings:
        return cls(
            port=env.whole("CC_METRICS_PORT", cls.port, low=0, high=65535),
            host=env.text("CC_METRICS_HOST", cls.host),
        )


class MetricsServerError(RuntimeError):
    """The metrics port could not be listened on."""


@contextmanager
def serving_metrics(
    settings: MetricsSettings, *, registry: CollectorRegistry = REGISTRY
) -> Iterator[int | None]:
    """`GET /metrics` on `settings.host:port` in a thread of its own while the block runs (it
    never touches the event loop); yields the port, or None when the port is 0 (off)."""
    if not settings.port:
        yield None
        return
    try:
        server, thread = start_http_server(settings.port, addr=settings.host, registry=registry)
    except OSError as exc:
        raise MetricsServerError(
            f"CC_METRICS_PORT: cannot listen on {settings.host}:{settings.port}: {exc}"
        ) from exc
    log.info("metrics on http://%s:%d/metrics", settings.host, settings.port)
    try:
        yield settings.port
    finally:
        _stop(server, thread)


def _stop(server: WSGIServer, thread: threading.Thread) -> None:
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


# --- executors -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskMetrics:
    finished: Counter
    step_seconds: Histogram
    agent_cost_usd: Counter
    integration_races_lost: Counter
    integration_turn_wait: Histogram
    duplicates_dropped: Counter


@functools.cache
def task_metrics() -> TaskMetrics:
    """The executors' families (registered on the first call; an executor calls it at start so
    that they are listed before its first task)."""
    return TaskMetrics(
        finished=Counter(
            "cc_tasks_finished_total",
            "Task attempts an executor finished, by outcome: succeeded; failed or cancelled "
            "(final); retrying (another attempt follows); rework (a re-run from the "
            "integration branch follows).",
            ("mode", "outcome"),
        ),
        step_seconds=Histogram(
            "cc_task_step_seconds",
            "Time an attempt spent in each step that had work to do: isolate, agent, commit, "
            "verify, push, integrate (fix rounds count in the step that asked for them).",
            ("mode", "step"),
            buckets=STEP_BUCKETS,
        ),
        agent_cost_usd=Counter(
            "cc_agent_cost_usd_total",
            "What agents reported spending, in US dollars, by model.",
            ("model",),
        ),
        integration_races_lost=Counter(
            "cc_integration_races_lost_total",
            "Pushes onto a run's integration branch that lost the compare-and-set (another "
            "integrator moved it first): each costs a fetch, a combination and a push again. "
            "Near zero while replicas take turns.",
            ("mode",),
        ),
        integration_turn_wait=Histogram(
            "cc_integration_turn_wait_seconds",
            "Time an integrator waited for its turn on a run's integration branch (this "
            "process's other integrators, then the other replicas'): grows when a run's tasks "
            "queue behind each other's pushes.",
            ("mode",),
            buckets=TURN_WAIT_BUCKETS,
        ),
        duplicates_dropped=Counter(
            "cc_task_duplicates_dropped_total",
            "Task messages dropped unrun: their dispatch (task and attempt) was taken from "
            "another message before (published twice, after JetStream forgot its id).",
            ("mode",),
        ),
    )


def task_finished(mode: str, outcome: str) -> None:
    task_metrics().finished.labels(mode=mode, outcome=outcome).inc()


def duplicate_dropped(mode: str) -> None:
    task_metrics().duplicates_dropped.labels(mode=mode).inc()


def agent_spent(model: str | None, cost_usd: float) -> None:
    """An agent run's reported cost (nothing for a free or unpriced one)."""
    if cost_usd > 0:
        task_metrics().agent_cost_usd.labels(model=model or UNKNOWN_MODEL).inc(cost_usd)


def integration_race_lost(mode: str) -> None:
    task_metrics().integration_races_lost.labels(mode=mode).inc()


def integration_turn_waited(mode: str, seconds: float) -> None:
    task_metrics().integration_turn_wait.labels(mode=mode).observe(max(0.0, seconds))


def step_took(mode: str, step: str, seconds: float) -> None:
    task_metrics().step_seconds.labels(mode=mode, step=step).observe(max(0.0, seconds))


class StepDurations:
    """One attempt's time per step, added up while it runs and recorded once at its end, so
    a step that runs twice in an attempt (a step split in two, a retried part) is one
    observation."""

    def __init__(self) -> None:
        self._seconds: dict[str, float] = {}

    def add(self, step: str, seconds: float) -> None:
        self._seconds[step] = self._seconds.get(step, 0.0) + seconds

    @contextmanager
    def timing(self, step: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(step, time.perf_counter() - started)

    @property
    def seconds(self) -> Mapping[str, float]:
        return dict(self._seconds)

    def record(self, mode: str) -> None:
        for step, seconds in self._seconds.items():
            step_took(mode, step, seconds)
        self._seconds.clear()


# --- every consumer ------------------------------------------------------------------------------
@functools.cache
def consumer_metrics() -> Counter:
    return Counter(
        "cc_messages_settled_total",
        "Messages a durable consumer of this process settled, by result: ack (also an event "
        "type it does not read, skipped), retry, give_up (a dead letter).",
        ("consumer", "result"),
    )


def message_settled(consumer: str, result: str) -> None:
    consumer_metrics().labels(consumer=consumer, result=result).inc()


# --- figures read elsewhere ----------------------------------------------------------------------
class Snapshot(Collector):
    """A gauge family with one label whose samples are replaced as a whole by `set`.

    The exposition reads the last snapshot and never waits for I/O: prometheus_client may
    collect from its own thread, and litestar's controller collects on the event loop itself,
    where waiting for the loop would deadlock. Whoever owns the data refreshes it (the gateway
    before each scrape). Labels in `always` are listed with 0 when the snapshot lacks them."""

    def __init__(
        self,
        name: str,
        documentation: str,
        label: str,
        *,
        always: Iterable[str] = (),
        registry: CollectorRegistry | None = REGISTRY,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.label = label
        self._always = tuple(always)
        self._values: Mapping[str, float] = dict.fromkeys(self._always, 0.0)
        if registry is not None:
            registry.register(self)

    def set(self, values: Mapping[str, float]) -> None:
        # One reference swap: a concurrent collect sees the old snapshot or the new, whole.
        self._values = {**dict.fromkeys(self._always, 0.0), **values}

    @property
    def values(self) -> Mapping[str, float]:
        return self._values

    def describe(self) -> list[GaugeMetricFamily]:
        return [self._family()]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = self._family()
        for key, value in sorted(self._values.items()):
            family.add_metric([key], value)
        yield family

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(self.name, self.documentation, labels=[self.label])


__all__ = [
    "STEP_BUCKETS",
    "MetricsServerError",
    "MetricsSettings",
    "Snapshot",
    "StepDurations",
    "TaskMetrics",
    "agent_spent",
    "consumer_metrics",
    "message_settled",
    "serving_metrics",
    "step_took",
    "task_finished",
    "task_metrics",
]
