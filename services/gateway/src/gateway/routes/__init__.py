"""HTTP route handlers, grouped by resource. Handlers stay thin: parse, call, answer."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from gateway.routes.control import cancel_run, replay_failed, replay_task, set_budget
from gateway.routes.dead_letters import list_dead_letters
from gateway.routes.events import run_events, task_log
from gateway.routes.health import executors, health, ready
from gateway.routes.plans import parse_plan_request
from gateway.routes.runs import (
    autonomous_batches,
    autonomous_start,
    autonomous_status,
    autonomous_task,
    create_run,
    get_run,
    list_runs,
)

ROUTES: list[ControllerRouterHandler] = [
    create_run,
    autonomous_start,
    list_runs,
    get_run,
    autonomous_status,
    autonomous_batches,
    autonomous_task,
    replay_task,
    replay_failed,
    cancel_run,
    set_budget,
    list_dead_letters,
    run_events,
    task_log,
    parse_plan_request,
    health,
    ready,
    executors,
]
