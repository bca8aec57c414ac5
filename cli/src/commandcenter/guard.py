"""`python -m commandcenter.guard DATA_DIR`: the stack's watchdog.

`up` starts it right after taking the data directory's lock. The guard waits for that lock,
which it gets only when `up` has let go of it: at the end of a clean stop (nothing is left,
it exits at once) or when `up` died, SIGKILL included. Then it does what the next `up` would
do: stop the processes `stack.json` names that are still running. The services and
nats-server die with `up` on their own (PR_SET_PDEATHSIG); PostgreSQL does not, since pg_ctl
starts it detached, and a service that hangs in its shutdown is killed here.

It holds the lock while it works, so a new `up` on the directory waits for it.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

from commandcenter import leftovers
from commandcenter.stack_lock import DataDirLock


def _log(text: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} guard: {text}", flush=True)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m commandcenter.guard DATA_DIR", file=sys.stderr)
        return 2
    data_dir = Path(argv[0]).resolve()
    for sig in (signal.SIGINT, signal.SIGHUP):  # only `up`'s end matters
        signal.signal(sig, signal.SIG_IGN)
    lock = DataDirLock(data_dir)
    lock.acquire(timeout=None)
    try:
        stale = leftovers.find(data_dir)
        if stale:
            _log(f"the stack ended without stopping {', '.join(map(str, stale))}: stopping them")
            leftovers.stop(stale, say=_log)
            _log("stopped")
    finally:
        lock.release()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
