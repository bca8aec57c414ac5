"""`commandcenter`: the one command of CommandCenter (typer).

up            the whole stack on this machine (embedded nats-server and PostgreSQL)
run           start a run of a plan through the gateway, optionally following it
status        list runs, or show one
runs          the runs as a table
logs          a task's agent output, now or live
open          the dashboard's address (opened in a browser when there is a display)
plan show     parse a plan and print what would run
demo          a sample repository and plan, run end to end
preflight     check what a run needs, before any run (exit 1 when something is missing)
executors     the executors alive now: mode, slots, agents, credentials (names)
replay        a new attempt of a failed task (or of every failed task of a run)
cancel        stop a run: no more dispatching, running agents killed
budget        set a run's budget
dead-letters  what the system gave up on (unresolved; --all: every letter)
prune         delete the task branches of ended runs from a repository
token         API tokens: create, list, revoke

Exit status: 0 done, 1 the run (or a check) did not succeed, 2 a usage error or an error
answer from the gateway, 130 interrupted.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, ParamSpec

import typer
from commandcenter_contracts import ExecutionMode, LandMode, MergeStyle

from commandcenter import commands, dead_letter_list, executor_list, gateway_client
from commandcenter import preflight as preflights
from commandcenter import prune as pruning
from commandcenter.discovery import DEFAULT_DATA_DIR
from commandcenter.gateway_client import CliError, find_gateway

AGENT_ARGV = "--agent-argv"

app = typer.Typer(
    name="commandcenter",
    help="Run coding agents over a markdown plan, over NATS JetStream.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
plan_app = typer.Typer(help="plan files", no_args_is_help=True)
app.add_typer(plan_app, name="plan")
token_app = typer.Typer(
    help="API tokens (an admin token's job: the one `up` wrote to <data-dir>/admin.token)",
    no_args_is_help=True,
)
app.add_typer(token_app, name="token")


_verbose = False
"""`--verbose`: set by the callback of every invocation (one command per process)."""


@app.callback()
def _global_options(
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="with an error, also the request, the HTTP status and the gateway's whole answer",
        ),
    ] = False,
) -> None:
    """Run coding agents over a markdown plan, over NATS JetStream."""
    global _verbose
    _verbose = verbose


def _agents() -> str:
    from cc_taskrunner.agents import agent_names

    return ", ".join(agent_names())


def _data_dir(value: str | None) -> Path:
    return Path(value or os.environ.get("CC_DATA_DIR") or DEFAULT_DATA_DIR)


def _quiet_stdout() -> None:
    """The reader of our output went away (`| head`): send what is still buffered nowhere, so
    neither this write nor the flush at exit ends in a traceback."""
    try:
        fileno = sys.stdout.fileno()
    except (OSError, ValueError):
        return  # not a file descriptor (captured output): nothing is flushed at exit
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fileno)
    os.close(devnull)


P = ParamSpec("P")


def exits(fn: Callable[P, int]) -> Callable[P, None]:
    """A command's exit status as the process's; a `CliError` as one line on stderr (2)."""

    @functools.wraps(fn)
    def command(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            code = fn(*args, **kwargs)
            sys.stdout.flush()  # a closed pipe shows here, not at exit
        except CliError as exc:
            print(f"commandcenter: {exc}", file=sys.stderr)
            if exc.details and _verbose:
                print(exc.details, file=sys.stderr)
            code = 2
        except BrokenPipeError:
            _quiet_stdout()
            code = 1
        if code:
            raise typer.Exit(code)

    return command


# --- options several commands share -------------------------------------------------------
Gateway = Annotated[
    str | None,
    typer.Option(
        help="gateway URL (default: $CC_GATEWAY_URL, else the stack running on --data-dir, "
        "$CC_DATA_DIR or ./.cc, else http://127.0.0.1:8001)"
    ),
]
HiddenDataDir = Annotated[str | None, typer.Option("--data-dir", hidden=True)]
DataDir = Annotated[
    str | None,
    typer.Option("--data-dir", help=f"where all state lives (default {DEFAULT_DATA_DIR})"),
]
Plain = Annotated[
    bool,
    typer.Option(
        "--plain",
        help="plain lines: no live bars, tables or colours (the default when stdout is not a "
        "terminal, e.g. in CI or a pipe)",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="the gateway's JSON")]
AgentArgv = Annotated[
    list[str] | None,
    typer.Option(
        AGENT_ARGV,
        help="with --agent command: the argv to run, everything after it (put it last)",
        metavar="ARGV...",
    ),
]


def _gateway(explicit: str | None, data_dir: str | None) -> gateway_client.Gateway:
    return find_gateway(explicit, _data_dir(data_dir))


# --- the commands ---------------------------------------------------------------------------
@app.command(help="run the whole stack on this machine until Ctrl-C")
@exits
def up(
    data_dir: DataDir = None,
    port: Annotated[int, typer.Option(help="gateway port")] = 8001,
    local_executors: Annotated[int, typer.Option(metavar="N")] = 1,
    dagger_executors: Annotated[int, typer.Option(metavar="N")] = 1,
    nats_url: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            envvar="CC_NATS_URL",
            help="use this NATS (credentials in the URL; several URLs comma-separated) and "
            "start none",
            show_default=False,
        ),
    ] = None,
    nats_cluster: Annotated[
        int,
        typer.Option(
            metavar="N",
            min=1,
            help="start N nats-server nodes as one JetStream cluster on loopback (3: streams "
            "replicated 3 times unless CC_STREAM_REPLICAS says otherwise)",
        ),
    ] = 1,
) -> int:
    return commands.up(
        _data_dir(data_dir),
        port=port,
        local_executors=local_executors,
        dagger_executors=dagger_executors,
        nats_url=nats_url,
        nats_cluster=nats_cluster,
    )


@app.command(help="start a run of PLAN through the gateway")
@exits
def run(
    plan: Annotated[str, typer.Argument(metavar="PLAN", help="path of the plan (MASTER_PLAN.md)")],
    batches: Annotated[
        str | None, typer.Option(metavar="A-B", help="batch range as written, e.g. 1-3 or 2")
    ] = None,
    phase: Annotated[
        str | None, typer.Option(help="phase, when batch numbers repeat across phases")
    ] = None,
    mode: ExecutionMode = ExecutionMode.LOCAL,
    agent: Annotated[
        str | None, typer.Option(help="the agent (default claude)", show_default=False)
    ] = None,
    model: Annotated[str | None, typer.Option(help="the agent's model (Claude: e.g. opus)")] = None,
    max_turns: Annotated[int | None, typer.Option(help="the agent's turn limit")] = None,
    fix_rounds: Annotated[
        int | None,
        typer.Option(help="times the agent fixes a failed check before the task fails (default 2)"),
    ] = None,
    budget: Annotated[
        float | None,
        typer.Option(
            metavar="USD",
            help="the run's budget in USD: no new task starts once its agents spent it",
        ),
    ] = None,
    agent_argv: AgentArgv = None,
    repo: Annotated[
        str | None, typer.Option(help="repository (default: the one containing the plan)")
    ] = None,
    base_ref: str | None = None,
    timeout: Annotated[float | None, typer.Option(help="per-task timeout, seconds")] = None,
    continue_on_failure: Annotated[
        bool, typer.Option("--continue-on-failure", help="later batches run even after a failure")
    ] = False,
    integration_branch: Annotated[
        str | None,
        typer.Option(help="where the tasks are combined (default cc/<run8>/integration)"),
    ] = None,
    merge_style: Annotated[MergeStyle | None, typer.Option(help="(default squash)")] = None,
    land: Annotated[
        LandMode | None,
        typer.Option(
            help="when the run succeeds: keep the integration branch (default), open a pull "
            "request into the base branch, or merge into it"
        ),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", help="show live progress until it ends")
    ] = False,
    plain: Plain = False,
    gateway: Gateway = None,
    data_dir: HiddenDataDir = None,
) -> int:
    options = commands.RunOptions(
        plan=plan,
        batches=batches,
        phase=phase,
        mode=mode.value,
        agent=agent,
        agent_argv=agent_argv,
        model=model,
        max_turns=max_turns,
        fix_rounds=fix_rounds,
        max_cost_usd=budget,
        repo=repo,
        base_ref=base_ref,
        timeout_s=timeout,
        continue_on_failure=continue_on_failure,
        integration_branch=integration_branch,
        merge_style=merge_style.value if merge_style else None,
        land=land.value if land else None,
    )
    return commands.run(options, gateway=_gateway(gateway, data_dir), follow_it=follow, plain=plain)


@app.command(help="list runs, or show one run")
@exits
def status(
    run_id: Annotated[
        str | None, typer.Argument(help="a run's id, or a unique prefix of it (e.g. 7501f80f)")
    ] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow", "-f", help="re-attach: the run's progress so far, then live until it ends"
        ),
    ] = False,
    as_json: AsJson = False,
    plain: Plain = False,
    gateway: Gateway = None,
    data_dir: HiddenDataDir = None,
) -> int:
    return commands.status(
        gateway=_gateway(gateway, data_dir),
        run_id=run_id,
        as_json=as_json,
        plain=plain,
        follow_it=follow,
    )


@app.command(help="the runs as a table, newest first")
@exits
def runs(
    status: Annotated[
        str | None, typer.Option(help="only runs in this status (e.g. running, halted)")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    as_json: AsJson = False,
    plain: Plain = False,
    gateway: Gateway = None,
    data_dir: HiddenDataDir = None,
) -> int:
    return commands.runs(
        gateway=_gateway(gateway, data_dir),
        status=status,
        limit=limit,
        as_json=as_json,
        plain=plain,
    )


@app.command(
    help="a task's agent output (what there is now, or live with --follow)",
    epilog="TASK_ID is the task's id (`status RUN_ID` shows it) or its plan id, e.g. 1.2. "
    "Without --run the newest run that has such a task is taken.",
)
@exits
def logs(
    task_id: Annotated[str, typer.Argument(help="the task's id, or its plan id (e.g. 1.2)")],
    run: Annotated[
        str | None, typer.Option(metavar="RUN_ID", help="the run (default: the newest with it)")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="stream it live until the task has finished")
    ] = False,
    plain: Plain = False,
    gateway: Gateway = None,
    data_dir: HiddenDataDir = None,
) -> int:
    return commands.logs(
        gateway=_gateway(gateway, data_dir), task=task_id, run_id=run, follow_it=follow, plain=plain
    )


@app.command(
    "open", help="print the dashboard's address (of one run, or of all) and open it in a browser"
)
@exits
def open_(
    run_id: Annotated[str | None, typer.Argument(help="a run's page (default: the runs)")] = None,
    print_only: Annotated[
        bool, typer.Option("--print-only", help="print the address, open nothing")
    ] = False,
    gateway: Gateway = None,
    data_dir: HiddenDataDir = None,
) -> int:
    return commands.open_dashboard(
        gateway=_gateway(gateway, data_dir), run_id=run_id, print_only=print_only
    )


@plan_app.command("show", help="parse PLAN and show its batches and tasks")
@exits
def plan_show(
    plan: Annotated[Path, typer.Argument()],
    as_json: Annotated[bool, typer.Option("--json", help="the JSON plan document")] = False,
) -> int:
    return commands.plan_show(plan, as_json=as_json)


@app.command(help="run a sample plan end to end on the stack")
@exits
def demo(
    data_dir: Annotated[
        str | None, typer.Option(help=f"(default {DEFAULT_DATA_DIR})", show_default=False)
    ] = None,
    port: int = 8001,
    mode: ExecutionMode = ExecutionMode.LOCAL,
    plain: Plain = False,
) -> int:
    return commands.demo(_data_dir(data_dir), port=port, mode=mode.value, plain=plain)


@app.command(
    help="check git, servers, agents, the gateway and its executors; exit 1 when something a "
    "run needs is missing (a program `up` runs, the run's agent on a live executor of its mode "
    "or, with none alive, here, or a gateway named by --gateway, $CC_GATEWAY_URL or --data-dir)"
)
@exits
def preflight(
    agent: Annotated[
        str | None,
        typer.Option(help="the agent the run would use (default $CC_DEFAULT_AGENT, else claude)"),
    ] = None,
    mode: ExecutionMode = ExecutionMode.LOCAL,
    gateway: Gateway = None,
    data_dir: HiddenDataDir = None,
) -> int:
    return preflights.preflight(gateway=_gateway(gateway, data_dir), agent=agent, mode=mode)


@app.command(help="the executors alive now: mode, slots, the agents each can run, credentials")
@exits
def executors(
    as_json: AsJson = False,
    plain: Plain = False,
    gateway: Gateway = None,
    data_dir: HiddenDataDir = None,
) -> int:
    return executor_list.executors(
        gateway=_gateway(gateway, data_dir), as_json=as_json, plain=plain
    )


@app.command(
    help="replay a failed or cancelled task as a new attempt (a halted run then resumes). "
    "A replay resets the task's branch to the base ref: the new attempt replaces the old "
    "attempt's commits instead of stacking on them.",
    epilog="replay TASK_ID | replay RUN_ID TASK (TASK: its id or plan id, e.g. 1.2) | "
    "replay --run RUN_ID (every failed task). A RUN_ID may be a unique prefix (7501f80f).",
)
@exits
def replay(
    task_id: Annotated[
        str | None,
        typer.Argument(
            metavar="TASK_ID|RUN_ID",
            help="the task's id (`status RUN_ID` shows it), or its run followed by TASK",
        ),
    ] = None,
    task: Annotated[
        str | None,
        typer.Argument(metavar="TASK", help="after RUN_ID: the task's id or plan id (1.2)"),
    ] = None,
    run: Annotated[
        str | None,
        typer.Option(metavar="RUN_ID", help="replay every failed task of this run"),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="then follow the run live until it ends")
    ] = False,
    plain: Plain = False,
    agent: Annotated[str | None, typer.Option(help="another agent")] = None,
    timeout: Annotated[float | None, typer.Option(help="seconds, this attempt")] = None,
    verify: Annotated[
        list[str] | None,
        typer.Option(
            metavar="COMMAND", help="a verification command replacing the task's own (repeatable)"
        ),
    ] = None,
    no_verify: Annotated[
        bool, typer.Option("--no-verify", help="no verification this time")
    ] = False,
    idempotency_key: Annotated[
        str | None, typer.Option(help="the same key replays once, however often sent")
    ] = None,
    agent_argv: AgentArgv = None,
    gateway: Gateway = None,
    data_dir: HiddenDataDir = None,
) -> int:
    options = commands.ReplayOptions(
        agent=agent, agent_argv=agent_argv, timeout_s=timeout, verify=verify, no_verify=no_verify
    )
    task_run = None
    if task is not None:  # `replay RUN_ID TASK`
        task_run, task_id = task_id, task
    return commands.replay(
        options,
        gateway=_gateway(gateway, data_dir),
        task_id=task_id,
        run_id=run,
        idempotency_key=idempotency_key,
        task_run=task_run,
        follow_it=follow,
        plain=plain,
    )


@app.command(help="cancel a run: stop dispatching, kill its agents")
@exits
def cancel(
    run_id: str,
    reason: Annotated[str, typer.Option(help="recorded with the run")] = "",
    gateway: Gateway = None,
    data_dir: HiddenDataDir = None,
) -> int:
    return commands.cancel(gateway=_gateway(gateway, data_dir), run_id=run_id, reason=reason)


@app.command(help="set a run's budget (USD); a run halted by its budget goes on")
@exits
def budget(
    run_id: str,
    max_cost_usd: Annotated[float, typer.Argument(metavar="USD")],
    gateway: Gateway = None,
    data_dir: HiddenDataDir = None,
) -> int:
    return commands.budget(
        gateway=_gateway(gateway, data_dir), run_id=run_id, max_cost_usd=max_cost_usd
    )


@app.command(
    "dead-letters",
    help="list what the system gave up on, newest first: each task's final failure (unless "
    "cancelled) and messages nobody could read; those whose task has succeeded since are "
    "resolved and left out unless --all",
)
@exits
def dead_letters(
    run: Annotated[str | None, typer.Option(metavar="RUN_ID", help="only this run's")] = None,
    limit: int = 50,
    show_all: Annotated[
        bool, typer.Option("--all", help="also the resolved ones (their task succeeded since)")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON: one short object per letter")
    ] = False,
    full: Annotated[
        bool, typer.Option("--full", help="JSON: the whole letters, task message included")
    ] = False,
    gateway: Gateway = None,
    data_dir: HiddenDataDir = None,
) -> int:
    return dead_letter_list.dead_letters(
        gateway=_gateway(gateway, data_dir),
        run_id=run,
        limit=limit,
        as_json=as_json,
        include_resolved=show_all,
        full=full,
    )


@app.command(
    help="delete the local cc/<run8>/… task branches of runs that have ended, and stale "
    "worktrees; never a branch outside cc/, one checked out in a worktree, or the integration "
    "branch of a run that has not landed"
)
@exits
def prune(
    repo: Annotated[
        Path, typer.Option(help="the repository (default: the current folder)")
    ] = Path(),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="say what would go; change nothing")
    ] = False,
    gateway: Gateway = None,
    data_dir: HiddenDataDir = None,
) -> int:
    return pruning.prune(gateway=_gateway(gateway, data_dir), repo=repo, dry_run=dry_run)


@token_app.command(
    "create",
    help="create a token and print its secret (shown once; stdout holds nothing else)",
    epilog="Scopes: runs:read (runs, events, logs, dead letters, executors), runs:write "
    "(start runs, parse plans), control (replay, cancel, budget), admin (tokens, and "
    "everything else).",
)
@exits
def token_create(
    name: Annotated[str, typer.Option(help="recorded as requested_by of what it asks for")],
    scope: Annotated[
        list[str],
        typer.Option(metavar="SCOPE", help="runs:read, runs:write, control or admin (repeatable)"),
    ],
    as_json: AsJson = False,
    gateway: Gateway = None,
    data_dir: HiddenDataDir = None,
) -> int:
    from commandcenter import tokens

    unknown = sorted(set(scope) - set(tokens.SCOPES))
    if unknown:
        raise CliError(f"--scope {', '.join(unknown)}: expected {', '.join(tokens.SCOPES)}")
    return tokens.create(
        gateway=_gateway(gateway, data_dir), name=name, scopes=scope, as_json=as_json
    )


@token_app.command("list", help="the tokens: name, scopes, created, last used (never secrets)")
@exits
def token_list(
    include_revoked: Annotated[bool, typer.Option("--all", help="revoked ones too")] = False,
    as_json: AsJson = False,
    gateway: Gateway = None,
    data_dir: HiddenDataDir = None,
) -> int:
    from commandcenter import tokens

    return tokens.list_tokens(
        gateway=_gateway(gateway, data_dir), include_revoked=include_revoked, as_json=as_json
    )


@token_app.command("revoke", help="revoke a token by name or id: it stops working at once")
@exits
def token_revoke(
    token: Annotated[str, typer.Argument(metavar="NAME_OR_ID")],
    gateway: Gateway = None,
    data_dir: HiddenDataDir = None,
) -> int:
    from commandcenter import tokens

    return tokens.revoke(gateway=_gateway(gateway, data_dir), token=token)


# --- entry point ----------------------------------------------------------------------------
def agent_argv_as_options(argv: Sequence[str]) -> list[str]:
    """Everything after `--agent-argv` is the agent's argv, options included (`--agent-argv
    my-agent --flag`): each word becomes the value of its own `--agent-argv`, so none of
    them is read as an option of ours."""
    words = list(argv)
    if AGENT_ARGV not in words:
        return words
    at = words.index(AGENT_ARGV)
    rest = words[at + 1 :]
    if not rest:
        return words  # the parser says that it needs a value
    return words[:at] + [part for word in rest for part in (AGENT_ARGV, word)]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; its exit status."""
    words = sys.argv[1:] if argv is None else argv
    try:
        app(args=agent_argv_as_options(words), prog_name="commandcenter")
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
