"""`commandcenter`: the one command of CommandCenter.

up         the whole stack on this machine (embedded nats-server and PostgreSQL)
run        start a run of a plan through the gateway, optionally following it
status     list runs, or show one
plan show  parse a plan and print what would run
demo       a sample repository and plan, run end to end
preflight  check what a run needs, before any run
replay     a new attempt of a failed task (or of every failed task of a run)
cancel     stop a run: no more dispatching, running agents killed
dead-letters  what the system gave up on
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from commandcenter_contracts import ExecutionMode

from commandcenter import commands

DEFAULT_DATA_DIR = ".cc"


def _data_dir(value: str | None) -> Path:
    return Path(value or os.environ.get("CC_DATA_DIR") or DEFAULT_DATA_DIR)


def _agents() -> str:
    from cc_taskrunner.agents import agent_names

    return ", ".join(agent_names())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="commandcenter",
        description="Run coding agents over a markdown plan, over NATS JetStream.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="run the whole stack on this machine until Ctrl-C")
    up.add_argument("--data-dir", help=f"where all state lives (default {DEFAULT_DATA_DIR})")
    up.add_argument("--port", type=int, default=8001, help="gateway port (default 8001)")
    up.add_argument("--local-executors", type=int, default=1, metavar="N")
    up.add_argument("--dagger-executors", type=int, default=1, metavar="N")

    run = sub.add_parser("run", help="start a run of PLAN through the gateway")
    run.add_argument("plan", help="path of the plan (MASTER_PLAN.md)")
    run.add_argument("--batches", metavar="A-B", help="batch range as written, e.g. 1-3 or 2")
    run.add_argument("--phase", help="phase, when batch numbers repeat across phases")
    run.add_argument("--mode", choices=list(ExecutionMode), default=ExecutionMode.LOCAL)
    run.add_argument("--agent", default=None, help=f"one of {_agents()} (default claude)")
    run.add_argument("--model", default=None, help="the agent's model (Claude: e.g. opus)")
    run.add_argument("--max-turns", type=int, default=None, help="the agent's turn limit")
    run.add_argument(
        "--fix-rounds",
        type=int,
        default=None,
        help="times the agent fixes a failed check before the task fails (default 2)",
    )
    run.add_argument(
        "--budget",
        type=float,
        dest="max_cost_usd",
        default=None,
        help="the run's budget in USD: no new task starts once its agents spent it",
    )
    run.add_argument(
        "--agent-argv", nargs=argparse.REMAINDER, help="with --agent command: the argv to run"
    )
    run.add_argument("--repo", help="repository (default: the one containing the plan)")
    run.add_argument("--base-ref", default=None)
    run.add_argument("--timeout", type=float, dest="timeout_s", help="per-task timeout, seconds")
    run.add_argument("--continue-on-failure", action="store_true")
    run.add_argument(
        "--integration-branch", help="where the tasks are combined (default cc/<run8>/integration)"
    )
    run.add_argument(
        "--merge-style", choices=["squash", "merge"], default=None, help="(default squash)"
    )
    run.add_argument(
        "--land",
        choices=["branch", "pr", "merge"],
        default=None,
        help="when the run succeeds: keep the integration branch (default), open a pull "
        "request into the base branch, or merge into it",
    )
    run.add_argument("--follow", action="store_true", help="show live progress until it ends")
    _gateway_option(run)

    status = sub.add_parser("status", help="list runs, or show one run")
    status.add_argument("run_id", nargs="?")
    status.add_argument("--json", action="store_true")
    _gateway_option(status)

    plan = sub.add_parser("plan", help="plan files")
    plan_sub = plan.add_subparsers(dest="plan_command", required=True, metavar="SUBCOMMAND")
    show = plan_sub.add_parser("show", help="parse PLAN and show its batches and tasks")
    show.add_argument("plan")
    show.add_argument("--json", action="store_true", help="the JSON plan document")

    demo = sub.add_parser("demo", help="run a sample plan end to end on the stack")
    demo.add_argument("--data-dir", help=f"(default {DEFAULT_DATA_DIR})")
    demo.add_argument("--port", type=int, default=8001)
    demo.add_argument("--mode", choices=list(ExecutionMode), default=ExecutionMode.LOCAL)

    pre = sub.add_parser("preflight", help="check git, servers, agents and the gateway")
    _gateway_option(pre)

    replay = sub.add_parser(
        "replay",
        help="replay a failed or cancelled task as a new attempt (a halted run then resumes)",
        description="A replay resets the task's branch to the base ref: the new attempt "
        "replaces the old attempt's commits instead of stacking on them.",
    )
    replay.add_argument("task_id", nargs="?", help="the task's id (`status RUN_ID` shows it)")
    replay.add_argument("--run", metavar="RUN_ID", help="replay every failed task of this run")
    replay.add_argument("--agent", help=f"another agent: {_agents()}")
    replay.add_argument("--timeout", type=float, dest="timeout_s", help="seconds, this attempt")
    replay.add_argument(
        "--verify",
        action="append",
        metavar="COMMAND",
        help="a verification command replacing the task's own (repeatable)",
    )
    replay.add_argument("--no-verify", action="store_true", help="no verification this time")
    replay.add_argument("--idempotency-key", help="the same key replays once, however often sent")
    replay.add_argument(
        "--agent-argv", nargs=argparse.REMAINDER, help="with --agent command: the argv (last)"
    )
    _gateway_option(replay)

    cancel = sub.add_parser("cancel", help="cancel a run: stop dispatching, kill its agents")
    cancel.add_argument("run_id")
    cancel.add_argument("--reason", default="", help="recorded with the run")
    _gateway_option(cancel)

    budget = sub.add_parser(
        "budget", help="set a run's budget (USD); a run halted by its budget goes on"
    )
    budget.add_argument("run_id")
    budget.add_argument("max_cost_usd", type=float, metavar="USD")
    _gateway_option(budget)

    dead = sub.add_parser("dead-letters", help="list what the system gave up on, newest first")
    dead.add_argument("--run", metavar="RUN_ID", help="only this run's")
    dead.add_argument("--limit", type=int, default=50)
    dead.add_argument("--json", action="store_true")
    _gateway_option(dead)
    return parser


def _gateway_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gateway",
        default=None,
        help="gateway URL (default: $CC_GATEWAY_URL, a stack in ./.cc, or http://127.0.0.1:8001)",
    )
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)


Command = Callable[[argparse.Namespace, Path], int]
"""A subcommand: the parsed arguments and the data directory in, an exit status out."""

COMMANDS: dict[str, Command] = {
    "up": lambda args, data_dir: commands.up(data_dir, args),
    "run": commands.run,
    "status": commands.status,
    "plan": lambda args, _data_dir: commands.plan_show(Path(args.plan), as_json=args.json),
    "demo": lambda args, data_dir: commands.demo(data_dir, args),
    "preflight": commands.preflight,
    "replay": commands.replay,
    "budget": commands.budget,
    "cancel": commands.cancel,
    "dead-letters": commands.dead_letters,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = COMMANDS.get(args.command)
    if command is None:
        return 2
    try:
        return command(args, _data_dir(getattr(args, "data_dir", None)))
    except commands.CliError as exc:
        print(f"commandcenter: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
