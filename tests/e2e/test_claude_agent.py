"""The real agent through the whole stack: the pinned Claude Code CLI, run by the executors
against a fake Messages API that plays scripted turns. What a run costs reaches the read model;
an overloaded API is retried by us; a budget halts a run before its next task and a raised
budget resumes it; dagger mode (engine-less, as root here) runs the same flow sandboxed; and
no credential ever reaches an event, a log, the read model or a dead letter."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import nats
import pytest
from cc_bus.permissions import OPERATOR
from commandcenter.gitfixtures import GitSandbox
from commandcenter.stack import Stack
from commandcenter.tools import installed_claude
from commandcenter_contracts import subjects

from tests.e2e.helpers import (
    api_client,
    read_events,
    running_stack,
    sandbox_with_plan,
    start_run,
    tasks_of,
    wait_for_run,
)
from tests.e2e.metrics_scrape import scrape_services, total
from tests.support.fake_anthropic import FakeAnthropic, bash, failing, say, write

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

KEY = "sk-ant-api03-E2E-SECRET-never-shown-0123456789"


@pytest.fixture(scope="module")
def fake_api() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(api_key=KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def claude_stack(
    tmp_path_factory: pytest.TempPathFactory, fake_api: FakeAnthropic
) -> Iterator[Stack]:
    if installed_claude() is None:
        pytest.fail("the pinned Claude Code CLI is not installed: run `make claude`")
    with running_stack(
        tmp_path_factory.mktemp("stack"),
        local_executors=1,
        dagger_executors=1,
        extra_env={
            "ANTHROPIC_BASE_URL": fake_api.url,
            "ANTHROPIC_API_KEY": KEY,
            "CC_CLAUDE_MAX_RETRIES": "0",
            "CC_RETRY_BASE_S": "0.2",
            "CC_RETRY_CAP_S": "0.5",
            "CC_DAGGER_BACKEND": "engineless",
            "CC_DAGGER_SLOTS": "2",
        },
        say=lambda _: None,
    ) as running:
        yield running


def _task(number: str, marker: str) -> str:
    return (
        f"### Task {number}: Write the greeting {number}\n\n"
        f"Write `notes/hello-{number}.txt` saying hello. {marker}\n\n"
        f"**Verification:**\n- `test -s notes/hello-{number}.txt`\n"
    )


def _plan(root: Path, *tasks: str) -> tuple[GitSandbox, Path]:
    text = "\n".join(["# Claude plan", "", "## Batch 1: Greetings", "", *tasks])
    return sandbox_with_plan(root, text, name="PLAN.md")


def _edit(number: str) -> list:
    return [
        write(f"{{cwd}}/notes/hello-{number}.txt", "hello\n", "Writing it."),
        bash(f"test -s notes/hello-{number}.txt", "Checking."),
        say("Done."),
    ]


@pytest.mark.parametrize("mode", ["local", "dagger"])
def test_a_real_edit_lands_with_its_cost_in_the_read_model(
    claude_stack: Stack, fake_api: FakeAnthropic, tmp_path: Path, mode: str
) -> None:
    marker = f"EDIT-{mode}"
    fake_api.script(marker, *_edit("1.1"))
    sandbox, plan = _plan(tmp_path / "git", _task("1.1", marker))
    with api_client(claude_stack) as client:
        run_id = start_run(client, plan, execution_mode=mode, agent="claude")
        view = wait_for_run(client, run_id, timeout=180)
        task = tasks_of(view)["1.1"]
        log = client.get(f"/api/v1/runs/{run_id}/tasks/{task['task_id']}/log").text

    assert view["status"] == "succeeded", view
    assert sandbox.file_at(view["integration_branch"], "notes/hello-1.1.txt") == "hello\n"
    assert task["cost_usd"] > 0 and task["turns"] == 3 and task["model"]
    assert task["tokens"]["input"] == 3600 and task["tokens"]["output"] == 900
    assert view["cost_usd"] == pytest.approx(task["cost_usd"])
    # The executor that ran it counted the spend by model (before it published the outcome).
    executors = scrape_services(claude_stack, f"executor-{mode}").values()
    spent = total(executors, "cc_agent_cost_usd_total", model=task["model"])
    assert spent >= task["cost_usd"] - 1e-9
    assert "→ Write" in log and "→ Bash test -s notes/hello-1.1.txt" in log
    first = fake_api.of(marker)[0]
    assert first.headers.get("x-api-key") == KEY  # the credential reached the agent
    if mode == "dagger":  # a sandbox of its own: permissions bypassed, as root here
        assert "claude: session" in log


def test_an_overloaded_api_is_retried_by_us_then_the_task_succeeds(
    claude_stack: Stack, fake_api: FakeAnthropic, tmp_path: Path
) -> None:
    fake_api.script("BUSY", failing(529, "Overloaded", repeat=1), *_edit("1.1"))
    _, plan = _plan(tmp_path / "git", _task("1.1", "BUSY"))
    with api_client(claude_stack) as client:
        run_id = start_run(client, plan, agent="claude")
        view = wait_for_run(client, run_id, timeout=180)
        events = read_events(client, run_id)

    assert view["status"] == "succeeded", view
    retried = [e for e in events if e.type == "task.failed"]
    assert [(e.data["error_code"], e.data["will_retry"]) for e in retried] == [
        ("AGENT_UNAVAILABLE", True)
    ]
    assert tasks_of(view)["1.1"]["attempt"] == 2


def test_a_budget_halts_the_run_before_its_last_task_and_a_raised_one_resumes_it(
    claude_stack: Stack, fake_api: FakeAnthropic, tmp_path: Path
) -> None:
    for number in ("1.1", "1.2", "1.3"):
        fake_api.script(f"BUDGET-{number}", *_edit(number))
    _, plan = _plan(tmp_path / "git", *(_task(n, f"BUDGET-{n}") for n in ("1.1", "1.2", "1.3")))
    with api_client(claude_stack) as client:
        # each task costs about $0.03 here: two of them spend more than $0.05
        run_id = start_run(client, plan, agent="claude", max_cost_usd=0.05)
        halted = wait_for_run(client, run_id, timeout=180)
        tasks = tasks_of(halted)
        assert halted["status"] == "halted", halted
        assert halted["error"].startswith("BUDGET_EXCEEDED")
        assert (tasks["1.1"]["status"], tasks["1.2"]["status"]) == ("succeeded", "succeeded")
        assert tasks["1.3"]["status"] == "pending" and tasks["1.3"]["started_at"] is None
        assert not fake_api.of("BUDGET-1.3")  # its agent never started
        assert halted["cost_usd"] >= 0.05 and halted["max_cost_usd"] == 0.05

        raised = client.post(f"/api/v1/runs/{run_id}/budget", json={"max_cost_usd": 1.0})
        assert raised.status_code == 202, raised.text
        deadline = time.monotonic() + 60
        while client.get(f"/api/v1/runs/{run_id}").json()["status"] == "halted":
            assert time.monotonic() < deadline, "the run did not resume"
            time.sleep(0.2)
        done = wait_for_run(client, run_id, timeout=180)
        events = read_events(client, run_id)

    assert done["status"] == "succeeded", done
    assert done["max_cost_usd"] == 1.0
    types = [e.type for e in events]
    assert types.index("run.halted") < types.index("run.resumed") < types.index("run.succeeded")


def test_no_credential_reaches_events_logs_the_read_model_or_dead_letters(
    claude_stack: Stack, fake_api: FakeAnthropic, tmp_path: Path
) -> None:
    # One more run, whose agent the API refuses: AGENT_AUTH, final, and a dead letter.
    fake_api.script("AUTH", failing(401, "invalid x-api-key", repeat=5))
    _, plan = _plan(tmp_path / "git", _task("1.1", "AUTH"))
    with api_client(claude_stack) as client:
        run_id = start_run(client, plan, agent="claude")
        view = wait_for_run(client, run_id, timeout=180)
        letters = client.get("/api/v1/dead-letters", params={"run_id": run_id}).json()
    assert view["status"] == "halted"
    assert tasks_of(view)["1.1"]["error_code"] == "AGENT_AUTH"
    assert letters["count"] == 1 and letters["items"][0]["error_code"] == "AGENT_AUTH"

    # Every run of this module so far, scanned wherever anything is kept.
    haystacks = asyncio.run(_everything_stored(claude_stack))
    for log in sorted((claude_stack.data_dir / "logs").glob("*.log")):
        haystacks[f"log {log.name}"] = log.read_text(errors="replace")
    for where, text in haystacks.items():
        assert KEY not in text, f"the API key is in {where}"
    # the scan looked where the work is: events, agent output, letters, rows, service logs
    assert "task.succeeded" in haystacks[f"stream {subjects.STREAM_STATUS}"]
    assert "claude: session" in haystacks[f"stream {subjects.STREAM_LOGS}"]
    assert "AGENT_AUTH" in haystacks[f"stream {subjects.STREAM_DEAD}"]
    assert "AGENT_AUTH" in haystacks["table dead_letters"]
    assert any(key.startswith("log executor-dagger") for key in haystacks)


async def _everything_stored(stack: Stack) -> dict[str, str]:
    """Every message of every stream and every row of every table of the read model, as text."""
    found: dict[str, str] = {}
    assert stack.nats is not None and stack.postgres is not None
    nc = await nats.connect(stack.nats.url_as(OPERATOR))
    try:
        js = nc.jetstream()
        for stream in (
            subjects.STREAM_STATUS,
            subjects.STREAM_LOGS,
            subjects.STREAM_DEAD,
            subjects.STREAM_TASKS,
            subjects.STREAM_PHASES,
        ):
            info = await js.stream_info(stream)
            texts = []
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                try:
                    msg = await js.get_msg(stream, seq)
                except nats.js.errors.NotFoundError:
                    continue
                texts.append((msg.data or b"").decode(errors="replace"))
            found[f"stream {stream}"] = "\n".join(texts)
    finally:
        await nc.close()
    conn = await asyncpg.connect(stack.postgres.url)
    try:
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        for row in tables:
            rows = await conn.fetch(f'SELECT * FROM "{row["tablename"]}"')
            found[f"table {row['tablename']}"] = json.dumps([dict(r) for r in rows], default=str)
    finally:
        await conn.close()
    return found


def test_ready_says_which_credential_each_executor_uses_and_that_the_cli_runs(
    claude_stack: Stack,
) -> None:
    with api_client(claude_stack) as client:
        deadline = time.monotonic() + 30
        while True:
            ready = client.get("/ready").json()
            if len(ready["executors"]) == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        listed = client.get("/api/v1/executors").json()
    assert {e["mode"] for e in ready["executors"]} == {"local", "dagger"}
    for executor in ready["executors"]:
        assert executor["credential"] == "ANTHROPIC_API_KEY"  # its name, never its value
        assert "ANTHROPIC_API_KEY" in executor["credentials"]  # every one it has, by name
        claude = executor["agents"]["claude"]
        assert claude["available"] and "2.1.332 (Claude Code)" in claude["detail"]
        assert KEY not in json.dumps(executor)
    assert listed["count"] == 2
