"""A deterministic in-process agent for tasks whose markdown spells the result out.

It recognises a "create" mention of a path followed (next non-blank line) by a fenced code
block, and writes the block as that file (through the workspace, so in a container too):

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

from commandcenter_contracts import FailureCode

from cc_taskrunner.agents.kind import AgentKind, AgentStatus
from cc_taskrunner.paths import UnsafePath, checked_relative, safe_target
from cc_taskrunner.ports import AgentContext, AgentResult

__all__ = [
    "FileSpec",
    "PlanFollowerAgent",
    "UnsafePath",
    "files_to_create",
    "mentioned_path",
    "safe_target",
]

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


class PlanFollowerAgent:
    async def run(self, ctx: AgentContext) -> AgentResult:
        specs = files_to_create(ctx.task.body)
        if not specs:
            await ctx.log("system", "plan-follower: the task spells out no file to create")
            return AgentResult()
        for spec in specs:  # check every path before writing any
            try:
                checked_relative(spec.path)
            except UnsafePath as exc:
                return self._refused(spec, exc)
        workspace = ctx.target()
        for spec in specs:
            if ctx.cancel.is_set():
                return AgentResult(FailureCode.CANCELLED, "cancelled")
            try:
                await workspace.write_file(spec.path, spec.content)
            except UnsafePath as exc:  # what only the file system can tell (a symbolic link)
                return self._refused(spec, exc)
            size = len(spec.content.encode())
            await ctx.log("system", f"plan-follower: wrote {spec.path} ({size} bytes)")
        return AgentResult()

    @staticmethod
    def _refused(spec: FileSpec, exc: UnsafePath) -> AgentResult:
        return AgentResult(
            FailureCode.AGENT_FAILED,
            f"plan-follower: refusing to write {spec.path!r} (task body line {spec.line}): {exc}",
        )


KIND = AgentKind(
    name="plan-follower",
    description="deterministic, built in: writes the files the task spells out",
    create=lambda _settings: PlanFollowerAgent(),
    status=lambda _settings: AgentStatus(True, "built in"),
)
