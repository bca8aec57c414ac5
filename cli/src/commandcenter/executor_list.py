"""`commandcenter executors`: the executors alive now, as they announce themselves — mode,
slots, the agents each can run, the names of its credentials (never a value), its version."""

from __future__ import annotations

import json
from typing import Any

from rich import box
from rich.table import Table

from commandcenter.gateway_client import Gateway, client, get_json
from commandcenter.terminal import cells, console_for

COLUMNS = ("Executor", "Mode", "Slots", "Agents", "Credentials", "Version")


def runnable(item: dict[str, Any]) -> str:
    """The agents it can run (the others it knows are unavailable there)."""
    agents = item.get("agents") or {}
    return ", ".join(sorted(name for name, a in agents.items() if a.get("available"))) or "none"


def credentials(item: dict[str, Any]) -> str:
    return ", ".join(item.get("credentials") or []) or "none"


def row(item: dict[str, Any]) -> tuple[str, ...]:
    return (
        item["executor_id"],
        item["mode"],
        str(item["slots"]),
        runnable(item),
        credentials(item),
        item.get("version") or "-",
    )


def line(item: dict[str, Any]) -> str:
    """One executor, plain: the table's columns in the same order."""
    executor, mode, slots, agents, creds, version = row(item)
    return (
        f"{executor}  {mode:<7} {slots:>2} slot(s)  agents: {agents}  credentials: {creds}  "
        f"{version}"
    )


def table(items: list[dict[str, Any]]) -> Table:
    shown = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in COLUMNS:
        shown.add_column(name, justify="right" if name == "Slots" else "left")
    for item in items:
        shown.add_row(*cells(*row(item)))
    return shown


def executors(*, gateway: Gateway, as_json: bool, plain: bool) -> int:
    with client(gateway) as http:
        items: list[dict[str, Any]] = get_json(http, "/api/v1/executors")["items"]
    if as_json:
        print(json.dumps(items, indent=2))
        return 0
    if not items:
        print("no executor is alive (runs wait until one starts)")
        return 0
    console = console_for(plain)
    if console is None:
        for item in items:
            print(line(item))
    else:
        console.print(table(items))
    return 0
