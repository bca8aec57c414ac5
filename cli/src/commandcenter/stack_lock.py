"""One stack per data directory: an exclusive `flock` on `<data-dir>/stack.lock`, held for the
life of `up`. The kernel drops it when the holder dies, however it dies, so a lock is never
stale; the file itself stays (removing it would let two holders lock two different files).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

LOCK_FILE = "stack.lock"


class DataDirLock:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, *, timeout: float | None = 0.0) -> bool:
        """Take the lock: at once (`timeout` 0), within `timeout` seconds, or waiting as long
        as it takes (None). False when someone else holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        if timeout is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._fd = fd
            return True
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(0.1)
                continue
            self._fd = fd
            return True

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # closing the only descriptor drops the lock
            self._fd = None
