"""Reading a plan file on the gateway's machine: where a path points, whether the gateway may
read it, and the parse.

Only what looks like a plan is read: a `.md` file, really inside `CC_ALLOWED_ROOTS`, no larger
than `CC_PLAN_MAX_BYTES`. The confinement is checked before anything else (a refused path's
answer says nothing of what is there), and again on the opened file, so a symlink swapped in
between cannot lead the read outside.

File I/O and CPU: callers run it off the event loop (`asyncio.to_thread`).
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cc_planfile import parse_plan
from commandcenter_contracts import Plan

from gateway.confinement import Confinement
from gateway.domain_errors import InvalidRequest, NotFound, TooLarge

PLAN_SUFFIX = ".md"
PLAN_SIZE_SETTING = "CC_PLAN_MAX_BYTES"


@dataclass(frozen=True)
class PlanSource:
    """Where plans are read from: relative paths against `root`, only inside the
    confinement's roots, up to `max_bytes`."""

    root: Path
    confinement: Confinement
    max_bytes: int = 1 << 20

    def check_text(self, text: str) -> None:
        """A plan sent as text obeys the same size limit as a file."""
        size = len(text.encode("utf-8", errors="surrogatepass"))
        if size > self.max_bytes:
            raise plan_too_large(size, self.max_bytes, "the plan text", "text")


def resolve_plan_path(plan_path: str, plan_root: Path, confinement: Confinement) -> Path:
    """The real path of a plan file the gateway may read."""
    path = Path(plan_path)
    where = confinement.path(
        "plan_path", plan_path, path if path.is_absolute() else plan_root / path
    )
    if where.suffix.lower() != PLAN_SUFFIX:
        raise InvalidRequest(
            "plan_path", f"only markdown plans (`{PLAN_SUFFIX}` files) are read, not {plan_path}"
        )
    kind = path_kind(where, "plan_path", "plan file")
    if kind is None:
        raise NotFound(f"plan file {where}")
    if not stat.S_ISREG(kind):
        raise InvalidRequest("plan_path", f"plan path is not a file: {where}")
    return where


def path_kind(path: Path, field: str, what: str) -> int | None:
    """The `st_mode` of what is at `path`, None if nothing can be (missing, a name too long
    for the file system); `InvalidRequest(field)` when it cannot be looked at."""
    try:
        return path.stat().st_mode
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG, errno.ELOOP):
            return None
        raise InvalidRequest(field, f"cannot read {what} {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise InvalidRequest(field, f"cannot read {what} {path}: {exc}") from exc


def plan_too_large(size: int, limit: int, what: str, field: str) -> TooLarge:
    return TooLarge(
        field,
        f"{what} is {size} bytes; plans are read up to {limit} bytes ({PLAN_SIZE_SETTING})",
        setting=PLAN_SIZE_SETTING,
    )


def _read_confined(path: Path, confinement: Confinement, max_bytes: int) -> bytes:
    try:
        fd = os.open(
            path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        )
    except OSError as exc:
        raise InvalidRequest("plan_path", f"cannot read plan file {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "rb") as file:
        opened = Path(f"/proc/self/fd/{fd}")
        if opened.exists():
            # The path may have changed between the check and the open: judge what was opened.
            confinement.path("plan_path", str(path), Path(os.readlink(opened)))
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InvalidRequest("plan_path", f"plan path is not a file: {path}")
        if info.st_size > max_bytes:
            raise plan_too_large(info.st_size, max_bytes, f"plan file {path}", "plan_path")
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes:  # it grew while we read
        raise plan_too_large(len(data), max_bytes, f"plan file {path}", "plan_path")
    return data


def read_plan(plan_path: str, source: PlanSource) -> tuple[Path, Plan]:
    """The real path and the parsed plan; a `NotPermitted`, `NotFound`, `TooLarge` or
    `InvalidRequest("plan_path", …)` otherwise."""
    path = resolve_plan_path(plan_path, source.root, source.confinement)
    data = _read_confined(path, source.confinement, source.max_bytes)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            "plan_path",
            f"plan file {path} is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start})",
        ) from None
    return path, parse_plan(text, source=str(path))
