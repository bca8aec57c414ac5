"""Fixtures of the fault-injection suite, and its report.

Each scenario gets its own supervised stack (nats-server, PostgreSQL, the services) on its own
data directory, so a fault injected in one never leaks into the next.

With `CC_FAULTS_REPORT=1`, the session writes `docs/faults.md`: one row per scenario with what
was injected, the result, the time it took (stack start-up included) and the notes the scenario
recorded. With `CC_FAULTS_REPORT=merge` (a partial run: one file, `-k`), it puts the rows of the
scenarios that ran into the file and keeps the others.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.harness import Bus, FaultStack
from tests.faults.report import REPORT_PATH, FaultReport, ScenarioRecord, merge, render

_RECORDS: list[ScenarioRecord] = []
_RECORD = pytest.StashKey[ScenarioRecord]()
_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def fault(request: pytest.FixtureRequest) -> FaultReport:
    record = ScenarioRecord(nodeid=request.node.nodeid)
    request.node.stash[_RECORD] = record
    _RECORDS.append(record)
    return FaultReport(record)


@pytest.fixture
def launch(request: pytest.FixtureRequest) -> Iterator[Callable[..., FaultStack]]:
    """Start a supervised stack (keyword arguments go to `FaultStack.start`)."""
    started: list[FaultStack] = []

    def start(**options: object) -> FaultStack:
        # Outside pytest's basetemp: PostgreSQL runs as its own system user, and pytest resets
        # basetemp to mode 0700 (see the root conftest).
        root = Path(tempfile.mkdtemp(prefix="cc-faults-"))
        running = FaultStack.start(root, **options)  # type: ignore[arg-type]
        started.append(running)
        return running

    yield start
    failed = request.node.stash.get(_FAILED, False)
    for running in started:
        running.stop()
        if failed:
            running.print_logs(only_tracebacks=False)
            print(f"stack data kept in {running.root}")
        else:
            shutil.rmtree(running.root, ignore_errors=True)


@pytest.fixture
def fault_stack(launch: Callable[..., FaultStack]) -> FaultStack:
    return launch()


@pytest.fixture
async def bus(fault_stack: FaultStack) -> AsyncIterator[Bus]:
    """A NATS connection of the test's own (reconnecting), and the checker on it."""
    bus = await Bus.open(fault_stack)
    yield bus
    await bus.nc.close()


# --- the report ---------------------------------------------------------------------------------
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed:
        item.stash[_FAILED] = True
    record = item.stash.get(_RECORD, None)
    if record is None:
        return
    record.seconds += report.duration
    if hasattr(report, "wasxfail"):
        record.outcome = f"xfail: {report.wasxfail}"
    elif report.failed:
        record.outcome = "FAILED" if report.when == "call" else f"ERROR ({report.when})"
    elif report.skipped and not record.outcome:
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else ""
        record.outcome = f"skipped: {reason}"
    elif report.when == "call" and report.passed and not record.outcome:
        record.outcome = "passed"


def pytest_sessionfinish() -> None:
    mode = os.environ.get("CC_FAULTS_REPORT")
    if not _RECORDS or mode not in ("1", "merge"):
        return
    if mode == "merge" and REPORT_PATH.exists():
        REPORT_PATH.write_text(merge(REPORT_PATH.read_text(), _RECORDS))
    else:
        REPORT_PATH.write_text(render(_RECORDS))
