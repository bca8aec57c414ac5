"""Lines for a terminal that may go away: `up … | head` or a closed `tee` must not turn a
progress line into an exception that skips stopping the stack."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TextIO


def say(text: str) -> None:
    """Print a line on stdout; if nobody reads it any more, drop it (and everything after)."""
    _write(sys.stdout, text)


def say_err(text: str) -> None:
    _write(sys.stderr, text)


def _write(stream: TextIO, text: str) -> None:
    try:
        print(text, file=stream, flush=True)
    except (BrokenPipeError, ConnectionResetError):
        _to_devnull(stream)
    except (OSError, ValueError):  # closed or unwritable: nothing more to tell anyone
        pass


def _to_devnull(stream: TextIO) -> None:
    """Point the stream's descriptor at /dev/null, so neither later lines nor the flush at
    exit fail on the broken pipe."""
    with contextlib.suppress(OSError, ValueError):
        fileno = stream.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fileno)
        os.close(devnull)
