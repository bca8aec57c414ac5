"""The dashboard's dead letters: a letter whose task a replay fixed is resolved, left out until
"Show resolved" is ticked, and then marked."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from commandcenter.stack import Stack
from playwright.sync_api import Page, expect

from tests.e2e.helpers import (
    api_client,
    create_task,
    noop_task,
    plan_text,
    sandbox_with_plan,
    start_run,
    tasks_of,
    wait_for_run,
)
from tests.support.polling import eventually_sync

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.integration]

MAKE_A_FILE = "import pathlib; pathlib.Path('made.txt').write_text('made on replay\\n')"


def test_resolved_letters_are_hidden_until_asked_for(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    _, plan = sandbox_with_plan(
        tmp_path / "git", plan_text([create_task("1.1", "a.txt", "a"), noop_task("1.2")])
    )
    with api_client(stack) as client:
        run_id = start_run(client, plan, agent="plan-follower")
        halted = wait_for_run(client, run_id)
        assert halted["status"] == "halted", halted
        failed = tasks_of(halted)["1.2"]
        body = {"agent": "command", "agent_argv": [sys.executable, "-c", MAKE_A_FILE]}
        replay = client.post(f"/api/v1/tasks/{failed['task_id']}/replay", json=body)
        assert replay.status_code == 202, replay.text
        eventually_sync(
            lambda: (
                [
                    i["resolved"]
                    for i in client.get(
                        f"/api/v1/dead-letters?run_id={run_id}&include_resolved=true"
                    ).json()["items"]
                ]
                == [True]
            ),
            within_s=120,
            what="the replayed task's letter to be resolved",
        )

    page.goto(f"/dead-letters?run_id={run_id}")
    rows = page.locator("#letters tr")
    expect(rows).to_have_text(["No unresolved dead letters."])
    page.get_by_label("Show resolved").check()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("NO_CHANGES")
    expect(rows.first).to_contain_text("resolved")
