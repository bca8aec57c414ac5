"""The implementations behind `commandcenter`'s subcommands (the command line itself is in
main): each takes plain values and returns an exit status."""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from commandcenter_contracts import RUN_ENDED
from rich.console import Console
from rich.text import Text

from commandcenter import views
from commandcenter.credentials import token_for
from commandcenter.dashboard import dashboard_url, display_available, open_in_browser
from commandcenter.discovery import export_line, is_default
from commandcenter.following import detachable, short_id, wait_for_replays
from commandcenter.gateway_client import (
    CliError,
    Gateway,
    client,
    get_json,
    path_part,
    refused,
    request,
    unreachable,
)
from commandcenter.gitfixtures import git
from commandcenter.live import LiveRunView
from commandcenter.local_paths import plan_path, repo_path
from commandcenter.logs import attempt_marker, find_task, log_lines, log_text
from commandcenter.progress import RunProgress
from commandcenter.sse import follow
from commandcenter.stack import Stack, running_gateway
from commandcenter.sturdy_output import say
from commandcenter.terminal import console_for

__all__ = ["CliError"]


def _err(text: str) -> None:
    print(text, file=sys.stderr)


# --- up -----------------------------------------------------------------------------------
def up(
    data_dir: Path,
    *,
    port: int,
    local_executors: int,
    dagger_executors: int,
    nats_url: str | None = None,
    nats_cluster: int = 1,
) -> int:
    if nats_url and nats_cluster > 1:
        raise CliError("--nats-url and --nats-cluster exclude each other: use a NATS, or start one")
    stack = Stack(
        data_dir,
        gateway_port=port,
        local_executors=local_executors,
        dagger_executors=dagger_executors,
        nats_url=nats_url,
        nats_cluster=nats_cluster,
        say=say,
    )
    _stop_on_signals()
    try:
        stack.start()
        say(f"\nCommandCenter is up: {stack.gateway_url}   (Ctrl-C stops everything)")
        if not is_default(data_dir, port):
            # Elsewhere the command looks in ./.cc and at port 8001: say how it finds this one.
            say(f"to use it from any directory: {export_line(stack.gateway_url, data_dir)}")
        stack.supervise()
    except KeyboardInterrupt:
        say("\nstopping…")
    except Exception as exc:
        raise CliError(str(exc)) from exc
    finally:
        stack.stop()  # whatever became of start-up or of our output (`| head`, a closed tee)
    say("stopped")
    return 0


def _stop_on_signals() -> None:
    """SIGINT, SIGTERM and SIGHUP all stop the stack, however `up` was started: a script's
    `up &` inherits SIGINT ignored, and Python keeps an inherited ignore. SIGHUP stays ignored
    under nohup. The first signal starts the stop; later ones wait for it to end."""
    handled = [signal.SIGINT, signal.SIGTERM]
    if signal.getsignal(signal.SIGHUP) != signal.SIG_IGN:
        handled.append(signal.SIGHUP)

    def stop(*_: object) -> None:
        for sig in handled:
            signal.signal(sig, signal.SIG_IGN)
        raise KeyboardInterrupt

    for sig in handled:
        signal.signal(sig, stop)


# --- run ----------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """What `run` asks the gateway for (None: the gateway's default)."""

    plan: str
    batches: str | None = None
    phase: str | None = None
    mode: str = "local"
    agent: str | None = None
    agent_argv: list[str] | None = None
    model: str | None = None
    max_turns: int | None = None
    fix_rounds: int | None = None
    max_cost_usd: float | None = None
    repo: str | None = None
    base_ref: str | None = None
    timeout_s: float | None = None
    continue_on_failure: bool = False
    integration_branch: str | None = None
    merge_style: str | None = None
    land: str | None = None


def parse_batches(text: str | None) -> tuple[str | None, str | None]:
    if not text:
        return None, None
    start, sep, end = text.partition("-")
    start, end = start.strip(), end.strip()
    if not start or (sep and not end):
        raise CliError(f"--batches {text!r}: expected A-B or A (e.g. 1-3)")
    return start, (end if sep else start)


def run_request(options: RunOptions) -> dict[str, Any]:
    start, end = parse_batches(options.batches)
    body: dict[str, Any] = {
        "plan_path": plan_path(options.plan),
        "execution_mode": options.mode,
    }
    optional = {
        "start_batch": start,
        "end_batch": end,
        "phase": options.phase,
        "agent": options.agent,
        "agent_argv": options.agent_argv,
        "repo": repo_path(options.repo),
        "base_ref": options.base_ref,
        "timeout_s": options.timeout_s,
        "integration_branch": options.integration_branch,
        "merge_style": options.merge_style,
        "land": options.land,
        "model": options.model,
        "max_turns": options.max_turns,
        "max_cost_usd": options.max_cost_usd,
    }
    body.update({k: v for k, v in optional.items() if v})
    if options.continue_on_failure:
        body["continue_on_failure"] = True
    if options.fix_rounds is not None:
        body["fix_rounds"] = options.fix_rounds
    return body


def run(options: RunOptions, *, gateway: Gateway, follow_it: bool, plain: bool) -> int:
    with client(gateway) as http:
        created = request(http, "POST", "/api/v1/runs", json=run_request(options)).json()
        run_id = created["id"]

        def accepted() -> int:
            batches = ", ".join(map(str, created["batches_scheduled"]))
            print(f"run {run_id} accepted: batches {batches}", flush=True)
            for warning in created.get("warnings", []):
                print(f"warning: {warning}", file=sys.stderr)
            if not follow_it:
                print(f"follow it with: commandcenter status {short_id(run_id)} --follow")
                return 0
            return follow_run(http, run_id, console=console_for(plain))

        # Ctrl-C from here on leaves a run that goes on: say so, and how to re-attach.
        return detachable(run_id, accepted) if follow_it else accepted()


def settled_view(http: httpx.Client, run_id: str, *, within_s: float = 10.0) -> dict[str, Any]:
    """The run view once the read model has caught up with the run's end (the event stream
    can be ahead of it by a moment)."""
    deadline = time.monotonic() + within_s
    while True:
        view: dict[str, Any] = get_json(http, f"/api/v1/runs/{run_id}")
        if view["status"] in RUN_ENDED or time.monotonic() > deadline:
            return view
        time.sleep(0.1)


def _run_events(http: httpx.Client, run_id: str) -> Iterator[str]:
    path = f"/api/v1/runs/{path_part(run_id)}/events"
    try:
        for message in follow(http, path):
            yield message.data
    except httpx.HTTPStatusError as exc:
        raise refused("GET", path, exc.response) from exc
    except httpx.TransportError as exc:
        raise unreachable(http, exc) from exc


def follow_run(http: httpx.Client, run_id: str, *, console: Console | None = None) -> int:
    """Show the run's progress until it ends: live bars and a task table on a terminal
    (`console`), lines otherwise. Exit status 0 when it succeeded."""
    if console is None:
        progress = RunProgress()
        for data in _run_events(http, run_id):
            progress.feed(data)
    else:
        view = LiveRunView(console)
        with view.shown():
            for data in _run_events(http, run_id):
                view.feed(data)
        progress = view.progress
    if progress.final is None:
        _err("the event stream ended before the run did")
        return 1
    return 0 if progress.succeeded else 1


# --- status, runs ---------------------------------------------------------------------------
def show_run(view: dict[str, Any], console: Console | None) -> None:
    if console is None:
        for line in views.run_lines(view):
            print(line)
    else:
        console.print(views.run_renderable(view))


def status(
    *, gateway: Gateway, run_id: str | None, as_json: bool, plain: bool, follow_it: bool = False
) -> int:
    if follow_it and (as_json or not run_id):
        raise CliError("--follow needs a RUN_ID, and shows progress, not --json")
    with client(gateway) as http:
        if run_id:
            view = get_json(http, f"/api/v1/runs/{path_part(run_id)}")
            if follow_it:  # re-attach: the run's progress so far, then live until it ends
                whole = view["id"]
                console = console_for(plain)
                return detachable(whole, lambda: follow_run(http, whole, console=console))
            if as_json:
                print(json.dumps(view, indent=2))
            else:
                show_run(view, console_for(plain))
            return 0
        items = _runs(http, {})
    if as_json:
        print(json.dumps(items, indent=2))
        return 0
    console = console_for(plain)
    if not items:
        print("no runs yet")
    elif console is None:
        for item in items:
            print(views.status_line(item))
    else:
        console.print(views.runs_table(items))
    return 0


def _runs(http: httpx.Client, params: dict[str, Any]) -> list[dict[str, Any]]:
    body = get_json(http, "/api/v1/runs", params=params)
    items: list[dict[str, Any]] = body["items"] if isinstance(body, dict) else body
    return items


def runs(*, gateway: Gateway, status: str | None, limit: int, as_json: bool, plain: bool) -> int:
    params: dict[str, Any] = {"limit": limit}
    if status:
        params["status"] = status
    with client(gateway) as http:
        items = _runs(http, params)
    if as_json:
        print(json.dumps(items, indent=2))
        return 0
    console = console_for(plain)
    if not items:
        print("no runs yet" if not status else f"no {status} runs")
    elif console is None:
        for item in items:
            print(views.runs_line(item))
    else:
        console.print(views.runs_table(items))
    return 0


# --- logs, open -----------------------------------------------------------------------------
LOG_STREAM_STYLES = {"stderr": "red", "system": "cyan"}


def logs(*, gateway: Gateway, task: str, run_id: str | None, follow_it: bool, plain: bool) -> int:
    with client(gateway) as http:
        ref = find_task(http, task, run_id)
        _err(f"log of {ref.describe()}")
        if not follow_it:
            for chunk in log_text(http, ref):
                sys.stdout.write(chunk)
            sys.stdout.flush()
            return 0
        console = console_for(plain)
        attempt: int | None = None
        for line in log_lines(http, ref):
            marker = attempt_marker(attempt, line)
            attempt = line.attempt
            if console is None:
                print(line.line, flush=True)
                continue
            if marker:
                console.print(Text(marker, style="bold"))
            # Text, not a string: a log line is never read as rich markup or emoji codes.
            style = LOG_STREAM_STYLES.get(line.stream, "")
            console.print(Text(line.line, style=style), soft_wrap=True)
    return 0


def open_dashboard(*, gateway: Gateway, run_id: str | None, print_only: bool) -> int:
    if run_id:
        with client(gateway) as http:
            run_id = get_json(http, f"/api/v1/runs/{path_part(run_id)}")["id"]
    url = dashboard_url(gateway.url, run_id)
    print(url)
    if print_only:
        return 0
    if not display_available():
        _err("no display here: open the address above in a browser")
    elif not open_in_browser(url):
        _err("no browser could be started: open the address above in one")
    return 0


# --- replay, cancel, budget (dead letters: dead_letter_list) ------------------------------
@dataclass(frozen=True, kw_only=True)
class ReplayOptions:
    """The overrides of `replay` (absent: the task as it was)."""

    agent: str | None = None
    agent_argv: list[str] | None = None
    timeout_s: float | None = None
    verify: list[str] | None = None
    no_verify: bool = False


def replay_body(options: ReplayOptions) -> dict[str, Any]:
    """The overrides of `replay` as the API's request body."""
    body: dict[str, Any] = {}
    if options.agent:
        body["agent"] = options.agent
    if options.agent_argv:
        body["agent_argv"] = list(options.agent_argv)
    if options.timeout_s is not None:
        body["timeout_s"] = options.timeout_s
    if options.no_verify and options.verify:
        raise CliError("--no-verify and --verify exclude each other")
    if options.no_verify:
        body["verification"] = []
    elif options.verify:
        body["verification"] = list(options.verify)
    return body


def replay_path(task: str | None, run_id: str | None, task_run: str | None = None) -> str:
    """Where a replay is asked for: a run's task (`task_run`, `task`: its id or plan id), a
    task by its id, or every failed task of a run (`run_id`)."""
    if task_run and run_id:
        raise CliError("name the run once: `replay RUN_ID TASK`, or `replay --run RUN_ID`")
    if task and task_run:
        return f"/api/v1/runs/{path_part(task_run)}/tasks/{path_part(task)}/replay"
    if task and run_id:
        raise CliError("replay takes a TASK_ID or --run RUN_ID (its failed tasks), not both")
    if task:
        if "." in task:  # task ids have no dots: this is a plan id, which needs its run
            raise CliError(f"{task} is a plan task id: name its run too (replay RUN_ID {task})")
        return f"/api/v1/tasks/{path_part(task)}/replay"
    if run_id:
        return f"/api/v1/runs/{path_part(run_id)}/replay-failed"
    raise CliError("replay needs a TASK_ID, RUN_ID TASK, or --run RUN_ID (its failed tasks)")


def replay(
    options: ReplayOptions,
    *,
    gateway: Gateway,
    task_id: str | None,
    run_id: str | None,
    idempotency_key: str | None,
    task_run: str | None = None,
    follow_it: bool = False,
    plain: bool = False,
) -> int:
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    path = replay_path(task_id, run_id, task_run)
    body = replay_body(options)
    with client(gateway) as http:
        answer = request(http, "POST", path, json=body, headers=headers).json()
        replays = answer.get("replays", [answer])
        for item in replays:
            print(
                f"replay of {item['plan_task_id'] or item['task_id']} requested: "
                f"attempt {item['attempt']} (task {item['task_id']})",
                flush=True,
            )
        whole = answer["run_id"]
        if not follow_it:
            print(f"follow it with: commandcenter status {short_id(whole)} --follow")
            return 0

        def follow_replays() -> int:
            settled = wait_for_replays(http, whole, replays)
            names = {r["task_id"]: r["plan_task_id"] or r["task_id"] for r in replays}
            for task, reason in settled.refused.items():
                _err(f"the planner refused the replay of {names.get(task, task)}: {reason}")
            if len(settled.refused) == len(replays):
                return 1  # nothing was replayed: nothing of it to follow
            if not settled.taken:
                _err("the planner has not taken the replay yet: following the run as it is")
            return follow_run(http, whole, console=console_for(plain))

        return detachable(whole, follow_replays)


def cancel(*, gateway: Gateway, run_id: str, reason: str) -> int:
    body = {"reason": reason} if reason else {}
    path = f"/api/v1/runs/{path_part(run_id)}/cancel"
    with client(gateway) as http:
        answer = request(http, "POST", path, json=body).json()
    print(f"run {answer['id']} ({answer['previous_status']}): cancel requested")
    return 0


def budget(*, gateway: Gateway, run_id: str, max_cost_usd: float) -> int:
    path = f"/api/v1/runs/{path_part(run_id)}/budget"
    with client(gateway) as http:
        answer = request(
            http, "POST", path, json={"max_cost_usd": max_cost_usd}, flags={"max_cost_usd": "USD"}
        ).json()
    print(f"run {answer['id']} ({answer['previous_status']}): budget ${answer['max_cost_usd']:.2f}")
    return 0


# --- plan show ----------------------------------------------------------------------------
def plan_show(path: Path, *, as_json: bool) -> int:
    from cc_planfile import PlanError, parse_plan_file, plan_document, render_text

    try:
        plan = parse_plan_file(path)
    except PlanError as exc:
        raise CliError(str(exc)) from exc
    if as_json:
        print(json.dumps(plan_document(plan), indent=2))
        return 0
    print(render_text(plan))
    return 0


# --- demo ---------------------------------------------------------------------------------
def demo(data_dir: Path, *, port: int, mode: str, plain: bool) -> int:
    from commandcenter.sample import create_sample

    console = console_for(plain)
    root = data_dir.resolve() / "demo" / time.strftime("%Y%m%d-%H%M%S")
    sandbox, plan = create_sample(root)
    print(f"sample repository {sandbox.repo}")
    print(f"  remote (bare)   {sandbox.remote}")
    print(f"  plan            {plan}\n")
    stack: Stack | None = None
    base = running_gateway(data_dir)
    if base is None:
        print("no stack running: starting one (it stops when the demo ends)")
        stack = Stack(data_dir, gateway_port=port)
        try:
            stack.start()
        except Exception as exc:
            stack.stop()
            raise CliError(f"could not start the stack: {exc}") from exc
        base = stack.gateway_url
    try:
        with client(Gateway(base, token_for(base, data_dir))) as http:
            created = request(
                http,
                "POST",
                "/api/v1/runs",
                json={
                    "plan_path": str(plan),
                    "start_batch": "1",
                    "end_batch": "2",
                    "execution_mode": mode,
                    "agent": "plan-follower",
                },
            ).json()
            print(f"\nrun {created['id']}")
            print(f"watch it in a browser: {dashboard_url(base, created['id'])}\n")
            code = follow_run(http, created["id"], console=console)
            view = settled_view(http, created["id"])
            show_run(view, console)
        print(f"\nbranches on {sandbox.remote} (a task's own branch goes once it is integrated):")
        for branch in sandbox.remote_branches():
            if branch.startswith("cc/"):
                subject = git(sandbox.remote, "log", "-1", "--format=%s", branch).strip()
                print(f"  {branch}  {subject}")
        integration = view.get("integration_branch")
        if integration and integration in sandbox.remote_branches():
            print(f"\nthe run's work, one commit per task, on {integration}:")
            print(git(sandbox.remote, "log", "--oneline", "--first-parent", integration).rstrip())
            files = git(sandbox.remote, "ls-tree", "-r", "--name-only", integration).split()
            print(f"files on {integration}: {', '.join(files)}")
        return code
    finally:
        if stack is not None:
            stack.stop()
