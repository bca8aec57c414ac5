"""A deterministic in-process agent for tasks whose markdown spells the result out.

It recognises a "create" mention of a path followed (next non-blank line) by a fenced code
block, and writes the block as that file:

    - Create: scripts/out.txt          Create `scripts/out.txt`:
    ```                                ```
    content                            content
    ```                                ```

A Files list entry (`- Create: path`) with no block right after it creates nothing by itself;
the later ``Create `path`:`` line with its block does. Paths must stay inside the workspace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from commandcenter_contracts import FailureCode

from cc_taskrunner.ports import AgentContext, AgentResult

_LIST_MARKER = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_MENTION_COLON = re.compile(
    r"^create\s*:\s*(?:`(?P<tick>[^`]+)`|(?P<bare>[^\s`]+?))\s*:?\s*(?:\(.*\))?\s*$", re.I
)
_MENTION_TICK = re.compile(
    r"^create\s+(?:the\s+)?(?:new\s+)?(?:file\s+)?`(?P<tick>[^`]+)`"
    r"\s*(?:with\s+(?:the\s+)?(?:following\s+)?(?:content|contents)?)?\s*:?\s*$",
    re.I,
)
_FENCE_OPEN = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


@dataclass(frozen=True)
class FileSpec:
    path: str
    content: str
    line: int
    """1-based line of the mention in the task body."""


class UnsafePath(ValueError):
    pass


def mentioned_path(line: str) -> str | None:
    """The path of a "create" mention on this line, or None."""
    # Strip bold markers around "Create:" only: `__` inside a path (`__init__.py`) is a name.
    text = _LIST_MARKER.sub("", line).replace("**", "").strip()
    match = _MENTION_COLON.match(text) or _MENTION_TICK.match(text)
    if match is None:
        return None
    path = (match.group("tick") or match.groupdict().get("bare") or "").strip()
    return path.rstrip(":") or None


def _opening_fence(line: str) -> tuple[str, str] | None:
    """(indent, fence) if `line` opens a fenced block."""
    match = _FENCE_OPEN.match(line)
    if match is None:
        return None
    if match.group("fence")[0] == "`" and "`" in match.group("info"):
        return None  # CommonMark: a backtick fence's info string has no backticks
    return match.group("indent"), match.group("fence")


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    return len(stripped) >= len(fence) and set(stripped) == {fence[0]}


def _read_block(lines: list[str], start: int, indent: str, fence: str) -> tuple[list[str], int]:
    """Lines of the block whose opening fence is at `start`; index after its closing fence."""
    content: list[str] = []
    i = start + 1
    while i < len(lines) and not _closes(lines[i], fence):
        line = lines[i]
        content.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
        i += 1
    return content, i + 1


def files_to_create(body: str) -> list[FileSpec]:
    lines = body.splitlines()
    found: list[FileSpec] = []
    i = 0
    while i < len(lines):
        opening = _opening_fence(lines[i])
        if opening is not None:  # a block nobody asked to create: its text is not read
            _, i = _read_block(lines, i, *opening)
            continue
        path = mentioned_path(lines[i])
        if path is None:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        block = _opening_fence(lines[j]) if j < len(lines) else None
        if block is None:
            i += 1
            continue
        content, i = _read_block(lines, j, *block)
        text = "\n".join(content) + ("\n" if content else "")
        found.append(FileSpec(path=path, content=text, line=j))
    return found


def safe_target(root: Path, relative: str) -> Path:
    """`root / relative`, refusing anything that could land outside `root` or in `.git`."""
    if not relative or "\x00" in relative or "\\" in relative:
        raise UnsafePath("not a usable relative path")
    pure = PurePosixPath(relative)
    if pure.is_absolute() or relative.startswith("~"):
        raise UnsafePath("absolute paths are not allowed")
    if ".." in pure.parts:
        raise UnsafePath("'..' is not allowed")
    if ".git" in pure.parts:
        raise UnsafePath("writing inside .git is not allowed")
    real_root = root.resolve()
    target = root.joinpath(*pure.parts)
    if not target.resolve().is_relative_to(real_root):
        raise UnsafePath("it leads outside the workspace through a symbolic link")
    if target.is_dir():
        raise UnsafePath("it is a directory")
    return target


class PlanFollowerAgent:
    async def run(self, ctx: AgentContext) -> AgentResult:
        specs = files_to_create(ctx.task.body)
        if not specs:
            await ctx.log("system", "plan-follower: the task spells out no file to create")
            return AgentResult()
        targets: list[tuple[FileSpec, Path]] = []
        for spec in specs:  # check every path before writing any
            try:
                targets.append((spec, safe_target(ctx.workdir, spec.path)))
            except UnsafePath as exc:
                return AgentResult(
                    FailureCode.AGENT_FAILED,
                    f"plan-follower: refusing to write {spec.path!r} "
                    f"(task body line {spec.line}): {exc}",
                )
        for spec, target in targets:
            if ctx.cancel.is_set():
                return AgentResult(FailureCode.CANCELLED, "cancelled")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(spec.content, encoding="utf-8")
            size = len(spec.content.encode())
            await ctx.log("system", f"plan-follower: wrote {spec.path} ({size} bytes)")
        return AgentResult()
