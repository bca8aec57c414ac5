"""Waiting for something to become true, in the tests: the one polling helper.

    view = await eventually(lambda: fetch_view(client, run_id), what="the run to finish")
    eventually_sync(lambda: path.exists(), within_s=10, what="the file")

The check may be sync or async; what it returns when truthy is returned. A check that raises
(an assertion saying why not yet, a server still coming back) is asked again. At the deadline
the test fails with what it waited for and the last answer or error it saw.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any, TypedDict

from typing_extensions import Unpack

INTERVAL_S = 0.05


class Patience(TypedDict, total=False):
    within_s: float
    """How long to wait (60 s)."""
    what: str
    """What is waited for, as the failure says it."""
    interval_s: float
    """Between two checks (50 ms)."""
    detail: Callable[[], object]
    """Called only on failure: what helps to see why, e.g. a process's log."""


async def eventually(check: Callable[[], Any], **patience: Unpack[Patience]) -> Any:
    wait = _Wait(patience)
    while True:
        answer = await _ask(check)
        if wait.over(answer):
            return answer
        await asyncio.sleep(wait.interval_s)


def eventually_sync(check: Callable[[], Any], **patience: Unpack[Patience]) -> Any:
    wait = _Wait(patience)
    while True:
        answer = _ask_sync(check)
        if wait.over(answer):
            return answer
        time.sleep(wait.interval_s)


async def _ask(check: Callable[[], Any]) -> Any:
    try:
        answer = check()
        return (await answer) if inspect.isawaitable(answer) else answer
    except Exception as exc:  # not yet (an assertion says why), a server coming back
        return exc


def _ask_sync(check: Callable[[], Any]) -> Any:
    try:
        return check()
    except Exception as exc:
        return exc


class _Wait:
    """One wait: its deadline, the last answer, and the failure at the deadline."""

    def __init__(self, patience: Patience) -> None:
        self.within_s = patience.get("within_s", 60.0)
        self.interval_s = patience.get("interval_s", INTERVAL_S)
        self.what = patience.get("what", "the condition")
        self.detail = patience.get("detail")
        self.deadline = time.monotonic() + self.within_s

    def over(self, answer: Any) -> bool:
        """True when `answer` is what was waited for; raises once the deadline has passed."""
        if answer and not isinstance(answer, Exception):
            return True
        if time.monotonic() > self.deadline:
            raise self._timed_out(answer)
        return False

    def _timed_out(self, last: Any) -> AssertionError:
        message = f"timed out after {self.within_s:g}s waiting for {self.what}; last: {last!r}"
        if self.detail is not None:
            message += f"\n{self.detail()}"
        error = AssertionError(message)
        if isinstance(last, BaseException):
            error.__cause__ = last
        return error
