"""Children that die with the process that started them, even when it is killed with SIGKILL.

On Linux a child asks the kernel for a signal when its parent dies (`PR_SET_PDEATHSIG`, the
mechanism the executors already use for their agents). The kernel sends it when the *thread*
that forked the child ends, so start long-lived children from the main thread. Elsewhere the
child only gets a session of its own, and the stack's guard (`commandcenter.guard`) is the
only safety net.
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@functools.cache
def _prctl() -> Callable[..., int] | None:
    """libc's `prctl`, looked up once in the parent: the forked child must not import."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


def dying_with_this_process(sig: signal.Signals = signal.SIGTERM) -> dict[str, Any]:
    """`Popen` options: the child leads a session of its own (a Ctrl-C in the terminal reaches
    only us, and we stop the children in order) and receives `sig` when we die."""
    prctl = _prctl()
    if prctl is None:
        return {"start_new_session": True}
    parent, number = os.getpid(), int(sig)

    def new_session_dying_with_parent() -> None:
        # Runs in the forked child before exec: only what was resolved beforehand.
        os.setsid()
        prctl(_PR_SET_PDEATHSIG, number, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), number)

    return {"preexec_fn": new_session_dying_with_parent}
