"""The dashboard in a real browser (Debian's chromium through Playwright) against the whole
stack: runs, task cards and logs change on the page as the work happens, without a reload.

The agent is the `command` agent running AGENT: it prints a line four times a second until
the test opens its gate (a file named after its task), then writes the file its task's check
looks for — so the test decides when each task finishes and sees the page before and after.
Every test marks its page's `window`; the mark still being there at the end proves the page
was never reloaded, so what changed came over the event streams.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cc_bus
import httpx
import pytest
from cc_bus.permissions import OPERATOR
from commandcenter.stack import Stack
from commandcenter_contracts import TaskReplayRefused
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import WIDE
from tests.e2e.helpers import (
    api_client,
    create_task,
    plan_text,
    sandbox_with_plan,
    start_run,
    tasks_of,
)
from tests.support.polling import eventually_sync

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.integration]

LIVE_S = 60_000  # ms: how long a live change may take to show (normally well under a second)

AGENT = r"""
import json, os, pathlib, sys, time
task = json.loads(pathlib.Path(os.environ["CC_TASK_FILE"]).read_text())
gates = pathlib.Path(sys.argv[1])
name, attempt = task["plan_task_id"], task["attempt"]
print(f"agent on {name}, attempt {attempt}", flush=True)
tick = 0
while not (gates / name).exists():
    tick += 1
    print(f"tick {tick}", flush=True)
    time.sleep(0.25)
failing = attempt == 1 and (gates / f"fail-{name}").exists()  # not the file its check wants
pathlib.Path(f"{'wrong' if failing else 'out'}-{name}.txt").write_text(f"attempt {attempt}\n")
print(f"done with {name}", flush=True)
"""


class Gates:
    """The files that let the agent of a task finish (`open`), or fail its first attempt."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "gates"
        self.dir.mkdir()

    def open(self, *names: str) -> None:
        for name in names:
            (self.dir / name).touch()

    def fail_first_attempt(self, name: str) -> None:
        (self.dir / f"fail-{name}").touch()


def _task(name: str) -> str:
    return create_task(name, f"out-{name}.txt", "written by the agent")


def _start(client: httpx.Client, tmp_path: Path, gates: Gates, *batches: list[str]) -> str:
    _, plan = sandbox_with_plan(tmp_path / "git", plan_text(*batches))
    agent = tmp_path / "gated_agent.py"
    agent.write_text(AGENT)
    return start_run(
        client,
        plan,
        agent="command",
        agent_argv=[sys.executable, str(agent), str(gates.dir)],
        fix_rounds=0,
    )


def _planned(client: httpx.Client, run_id: str) -> dict[str, Any]:
    found: dict[str, Any] = eventually_sync(
        lambda: tasks_of(client.get(f"/api/v1/runs/{run_id}").json()) or None,
        within_s=60,
        what="the run to be planned",
    )
    return found


def _mark(page: Page) -> None:
    page.evaluate("window.__notReloaded = true")


def _assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__notReloaded === true"), "the page was reloaded"


def _card(page: Page, name: str) -> Locator:
    return page.locator(f'li.card[data-plan-task-id="{name}"]')


def _status(scope: Locator) -> Locator:
    return scope.locator("header .status").first


def _screenshot(page: Page, tmp_path: Path, name: str) -> Path:
    """A full-page PNG under the test's tmp dir, and in $CC_SCREENSHOT_DIR when set (that is
    how docs/img/run-page.png is made)."""
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    if target := os.environ.get("CC_SCREENSHOT_DIR"):
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, Path(target) / name)
    return path


def test_a_run_appears_on_the_runs_page_and_its_tasks_succeed_live(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    gates = Gates(tmp_path)
    runs_page = page
    runs_page.goto("/")
    expect(runs_page.locator("#run-rows")).to_have_attribute("data-loaded", "true")
    _mark(runs_page)
    run_page = page.context.new_page()

    with api_client(stack) as client:
        run_id = _start(client, tmp_path, gates, [_task("1.1"), _task("1.2")], [_task("2.1")])

        row = runs_page.locator(f'tr[data-run-id="{run_id}"]')
        expect(row).to_be_visible(timeout=LIVE_S)
        expect(row.locator(".status")).to_have_text("running", timeout=LIVE_S)
        expect(row).to_contain_text("0/3")

        run_page.goto(f"/runs/{run_id}")
        _mark(run_page)
        expect(_status(_card(run_page, "1.1"))).to_have_text("running", timeout=LIVE_S)
        expect(_status(_card(run_page, "2.1"))).to_have_text("pending")
        expect(run_page.locator("#cancel-run")).to_be_enabled()

        gates.open("1.1")
        expect(_status(_card(run_page, "1.1"))).to_have_text("succeeded", timeout=LIVE_S)
        expect(_card(run_page, "1.1").locator('[data-fact="integrated"]')).to_have_text(
            re.compile(r"^[0-9a-f]{10}$")
        )
        expect(_status(_card(run_page, "1.2"))).to_have_text("running", timeout=LIVE_S)
        expect(row).to_contain_text("1/3", timeout=LIVE_S)

        gates.open("1.2", "2.1")
        expect(run_page.locator("#run-status")).to_have_text("succeeded", timeout=LIVE_S)
        for name in ("1.1", "1.2", "2.1"):
            expect(_status(_card(run_page, name))).to_have_text("succeeded")
        view = client.get(f"/api/v1/runs/{run_id}").json()
        expect(run_page.locator("#integration")).to_have_text(
            f"{view['integration_branch']} @ {view['integration_commit'][:10]}"
        )
        expect(run_page.locator("#cancel-run")).to_be_disabled()
        expect(run_page.locator("#banner")).to_be_hidden()
        expect(row.locator(".status")).to_have_text("succeeded", timeout=LIVE_S)
        expect(row).to_contain_text("3/3")

    _assert_not_reloaded(runs_page)
    _assert_not_reloaded(run_page)
    expect(run_page.locator("#live")).to_have_attribute("data-state", "closed")  # run over
    expect(runs_page.locator("#live")).to_have_attribute("data-state", "live")
    _assert_fits_a_phone(run_page)
    _screenshot(run_page, tmp_path, "run-page.png")


def test_replay_on_a_failed_task_starts_attempt_2(page: Page, stack: Stack, tmp_path: Path) -> None:
    gates = Gates(tmp_path)
    gates.fail_first_attempt("1.1")
    gates.open("1.1", "2.1")
    with api_client(stack) as client:
        run_id = _start(client, tmp_path, gates, [_task("1.1")], [_task("2.1")])
    page.goto(f"/runs/{run_id}")
    _mark(page)
    card = _card(page, "1.1")

    expect(page.locator("#run-status")).to_have_text("halted", timeout=LIVE_S)
    expect(page.locator("#banner")).to_be_visible()
    expect(page.locator("#banner")).to_contain_text("Halted:")
    expect(page.locator("#banner")).to_contain_text("1.1")
    expect(_status(card)).to_have_text("failed")
    expect(card.locator(".error")).to_contain_text("VERIFICATION_FAILED")
    replay = card.get_by_role("button", name="Replay task 1.1")

    # Asked first; keeping it changes nothing.
    replay.click()
    dialog = page.locator("dialog#confirm")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("attempt 2")
    dialog.get_by_role("button", name="Keep it").click()
    expect(dialog).to_be_hidden()
    expect(card.locator('[data-fact="attempt"]')).to_have_text("1")

    replay.click()
    dialog.get_by_role("button", name="Replay").click()
    expect(card.locator('[data-fact="attempt"]')).to_have_text("2", timeout=LIVE_S)
    expect(_status(card)).to_have_text("succeeded", timeout=LIVE_S)
    expect(page.locator("#run-status")).to_have_text("succeeded", timeout=LIVE_S)
    expect(_status(_card(page, "2.1"))).to_have_text("succeeded")
    expect(page.locator("#banner")).to_be_hidden()
    expect(replay).to_be_hidden()
    _assert_not_reloaded(page)


def test_a_replay_the_planner_refused_says_why_on_the_task(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    """The gateway answered 202; the planner then refused the replay (its reason comes on the
    run's status stream). The task's card says why, live; the next attempt clears it."""
    gates = Gates(tmp_path)
    gates.fail_first_attempt("1.1")
    gates.open("1.1")
    with api_client(stack) as client:
        run_id = _start(client, tmp_path, gates, [_task("1.1")])
        page.goto(f"/runs/{run_id}")
        _mark(page)
        card = _card(page, "1.1")
        expect(_status(card)).to_have_text("failed", timeout=LIVE_S)
        expect(card.locator(".refused")).to_be_hidden()
        task_id = tasks_of(client.get(f"/api/v1/runs/{run_id}").json())["1.1"]["task_id"]

    refusal = TaskReplayRefused(
        run_id=run_id,
        task_id=task_id,
        request_id=str(uuid.uuid4()),
        reason="1.1 has a newer attempt (2) already",
    )
    assert stack.nats is not None
    _publish(stack.nats.url_as(OPERATOR), refusal)
    expect(card.locator(".refused")).to_have_text(
        "replay refused: 1.1 has a newer attempt (2) already", timeout=LIVE_S
    )
    task_page = page.context.new_page()  # the task's own page says it too
    task_page.goto(f"/runs/{run_id}/tasks/{task_id}")
    expect(task_page.locator("#refused")).to_have_text("1.1 has a newer attempt (2) already")
    task_page.close()

    card.get_by_role("button", name="Replay task 1.1").click()
    page.locator("dialog#confirm").get_by_role("button", name="Replay").click()
    expect(card.locator('[data-fact="attempt"]')).to_have_text("2", timeout=LIVE_S)
    expect(card.locator(".refused")).to_be_hidden()
    expect(_status(card)).to_have_text("succeeded", timeout=LIVE_S)
    _assert_not_reloaded(page)


def _publish(nats_url: str, event: TaskReplayRefused) -> None:
    """Published from a thread of its own: Playwright's sync API runs an event loop here."""

    async def go() -> None:
        nc = await cc_bus.connect(nats_url, name="browser-tests")
        try:
            await cc_bus.publish_status(nc.jetstream(), event)
        finally:
            await nc.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, go()).result(timeout=60)


def test_the_log_view_streams_the_agents_output_then_shows_the_commits(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    gates = Gates(tmp_path)
    with api_client(stack) as client:
        run_id = _start(client, tmp_path, gates, [_task("1.1")])
        task_id = _planned(client, run_id)["1.1"]["task_id"]
    page.goto(f"/runs/{run_id}/tasks/{task_id}")
    _mark(page)
    log = page.locator("#log")

    expect(log).to_contain_text("agent on 1.1, attempt 1", timeout=LIVE_S)
    expect(page.locator("#task-status")).to_have_text("running")
    expect(log.locator("li", has_text=re.compile(r"^tick \d+$")).first).to_be_visible()
    ticks = log.locator("li", has_text=re.compile(r"^tick \d+$"))
    seen = int(ticks.last.inner_text().split()[1])
    # Lines the agent prints from now on arrive while the page is open.
    expect(log.locator("li", has_text=f"tick {seen + 4}")).to_be_visible(timeout=LIVE_S)

    gates.open("1.1")
    expect(log).to_contain_text("done with 1.1", timeout=LIVE_S)
    expect(page.locator("#task-status")).to_have_text("succeeded", timeout=LIVE_S)
    expect(page.locator("#integrated")).to_have_text(re.compile(r"^[0-9a-f]{10}$"), timeout=LIVE_S)
    expect(page.locator("#commit")).to_have_text(re.compile(r"^[0-9a-f]{10}"))
    expect(page.locator("#log-state")).to_have_text("the end of the log", timeout=LIVE_S)
    _assert_not_reloaded(page)


def test_a_short_run_id_and_a_plan_task_id_in_the_address_go_to_the_whole_ones(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    gates = Gates(tmp_path)
    gates.open("1.1")
    with api_client(stack) as client:
        run_id = _start(client, tmp_path, gates, [_task("1.1")])
        task_id = _planned(client, run_id)["1.1"]["task_id"]
    page.goto(f"/runs/{run_id[:8]}/tasks/1.1")
    expect(page).to_have_url(re.compile(f"/runs/{run_id}/tasks/{task_id}$"), timeout=LIVE_S)
    expect(page.locator("#task-title")).to_contain_text("1.1")
    page.goto(f"/runs/{run_id[:8]}")
    expect(page).to_have_url(re.compile(f"/runs/{run_id}$"), timeout=LIVE_S)
    expect(_card(page, "1.1")).to_be_visible()


def test_cancel_stops_a_running_run(page: Page, stack: Stack, tmp_path: Path) -> None:
    gates = Gates(tmp_path)  # never opened: the agent runs until it is stopped
    with api_client(stack) as client:
        run_id = _start(client, tmp_path, gates, [_task("1.1")], [_task("2.1")])
        page.goto(f"/runs/{run_id}")
        _mark(page)
        expect(_status(_card(page, "1.1"))).to_have_text("running", timeout=LIVE_S)

        page.get_by_role("button", name="Cancel run").click()
        dialog = page.locator("dialog#confirm")
        expect(dialog).to_be_visible()
        dialog.get_by_role("button", name="Cancel run").click()

        expect(page.locator("#run-status")).to_have_text("cancelled", timeout=LIVE_S)
        expect(page.locator("#banner")).to_contain_text("Cancelled: cancelled from the dashboard")
        expect(_status(_card(page, "1.1"))).to_have_text("cancelled", timeout=LIVE_S)
        expect(_status(_card(page, "2.1"))).to_have_text("cancelled")
        expect(page.locator("#cancel-run")).to_be_disabled()
        view = client.get(f"/api/v1/runs/{run_id}").json()
    assert view["status"] == "cancelled"
    assert tasks_of(view)["1.1"]["status"] == "cancelled"
    _assert_not_reloaded(page)


def test_the_start_form_previews_the_plan_and_starts_a_run_by_keyboard(
    page: Page, tmp_path: Path
) -> None:
    gates = Gates(tmp_path)
    gates.open("1.1", "1.2")
    overlapping = create_task("1.2", "out-1.1.txt", "the same file as 1.1")
    _, plan = sandbox_with_plan(
        tmp_path / "git", plan_text([_task("1.1"), overlapping], [_task("2.1")])
    )
    agent = tmp_path / "gated_agent.py"
    agent.write_text(AGENT)
    page.goto("/")
    expect(page.locator("#run-rows")).to_have_attribute("data-loaded", "true")
    _mark(page)

    # Every control of the form is reached with the keyboard alone.
    summary = page.locator("#start-panel > summary")
    for _ in range(10):
        page.keyboard.press("Tab")
        if summary.evaluate("el => el === document.activeElement"):
            break
    else:
        pytest.fail("Tab never reached the start form")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    page.keyboard.type(str(plan))
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # Preview the plan
    preview = page.locator("#preview")
    expect(preview).to_contain_text("batch 1: Batch number 1 — 2 tasks")
    expect(preview).to_contain_text("batch 2: Batch number 2 — 1 task")
    expect(preview.locator(".notes")).to_contain_text("out-1.1.txt")

    page.locator("#end-batch").select_option("1")
    page.locator("#agent").select_option("command")
    page.locator("#agent-argv").fill(f"{sys.executable}\n{agent}\n{gates.dir}")
    page.locator("#start-button").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#notice")).to_contain_text("started: 2 tasks in 1 batches")

    row = page.locator("#run-rows tr", has_text=str(plan))
    expect(row.locator(".status")).to_have_text("succeeded", timeout=LIVE_S)
    expect(row).to_contain_text("2/2")
    _assert_not_reloaded(page)


def _assert_fits_a_phone(page: Page) -> None:
    """Nothing wider than a phone's screen (tables scroll inside their own box)."""
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.locator("h1")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} is {overflow}px wider than a phone"
    page.set_viewport_size(WIDE)


@pytest.mark.parametrize("path", ["/", "/dead-letters"])
def test_pages_fit_a_phone(page: Page, path: str) -> None:
    page.goto(path)
    _assert_fits_a_phone(page)


def test_a_wrong_token_is_refused_and_signing_out_ends_the_session(page: Page) -> None:
    page.goto("/")
    expect(page.locator("#account")).to_contain_text("signed in as admin")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    page.goto("/")  # the API refuses the page's data now: back to the sign-in page
    expect(page).to_have_url(re.compile(r"/sign-in\?next=%2F$"))

    page.get_by_label("API token").fill("cc_" + "W" * 43)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#sign-in-error")).to_have_text("That token is unknown or revoked.")
    cookies = page.context.cookies()
    assert not [c for c in cookies if c["name"] == "cc_session" and c["value"]]
