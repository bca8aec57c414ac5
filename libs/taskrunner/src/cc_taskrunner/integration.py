"""The run's integration branch, through `Workspace.exec`: where every task's work is combined.

One branch per run (`cc/<run8>/integration` by default) that later tasks start from and every
succeeded task lands on, as one squashed commit (or a merge commit) carrying the task's
`CommandCenter-Task` / `-Attempt` trailers. The branch lives on the run's remote, or, for a
repository without one, in the checkout's own ref store (a worktree shares it with the user's
repository, so the branch is a local branch there).

Moving it is a compare-and-set: a push with `--force-with-lease` on the tip the combination was
made on (`git update-ref <new> <old>` locally). Whoever loses the race reads the new tip and
combines again, so concurrent integrators never lose each other's commits. Whether a task is
on the branch already is read from the trailers on its first-parent line, which makes
integrating a task idempotent across crashes and redeliveries.

The push that lands a task also deletes the task's own branch from the remote (`--atomic`, with
a lease on the task branch's tip): the remote never holds an integrated task's branch, and a
crash cannot leave one behind. A task branch that moved meanwhile (a concurrent delivery pushed
there) is not deleted: the branch alone is left to that delivery.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from cc_taskrunner import git_steps
from cc_taskrunner.branches import check_git_argument
from cc_taskrunner.commits import TASK_TRAILER, parse_trailers
from cc_taskrunner.errors import GitError
from cc_taskrunner.ports import Workspace
from cc_taskrunner.process import CommandNotFound, ProcessResult

NO_COMMIT = "0" * 40
"""`git update-ref`'s old value for "the ref must not exist yet"."""

_LOST_RACE = ("[rejected]", "stale info", "fetch first", "cannot lock ref", "failed to update ref")
"""What `git push` says when the lease failed: locally (the tip moved since it was read) or on
the remote (another push moved it while this one waited)."""


@dataclass(frozen=True)
class IntegrationTarget:
    branch: str
    remote: str | None
    """A remote name or URL usable in the checkout; None: the checkout's own ref store."""

    @property
    def ref(self) -> str:
        return f"refs/heads/{self.branch}"

    def describe(self) -> str:
        return self.branch if self.remote is None else f"{self.branch} on {self.remote}"


@dataclass(frozen=True)
class Combined:
    """The task's work combined with the integration tip: a commit not yet on the branch."""

    commit: str
    tree: str
    parent: str


@dataclass(frozen=True)
class Conflict:
    """The task's changes clash with the integration tip in `files`."""

    files: list[str]
    onto: str


async def _exec(
    ws: Workspace, argv: list[str], *, what: str, timeout_s: float, stdin: str | None = None
) -> ProcessResult:
    try:
        return await ws.exec(git_steps.git_request(argv, timeout_s, stdin=stdin))
    except CommandNotFound as exc:
        raise GitError(f"{what} failed: {exc}") from exc


def _failed(result: ProcessResult, what: str) -> GitError:
    if result.timed_out:
        return GitError(f"{what} did not finish in time")
    return GitError(f"{what} failed: {result.tail() or f'exit status {result.returncode}'}")


async def read_tip(ws: Workspace, target: IntegrationTarget, *, timeout_s: float) -> str | None:
    """The branch's tip, with its objects in the checkout; None when the branch does not exist."""
    if target.remote is None:
        argv = ["git", "rev-parse", "--verify", "--quiet", f"{target.ref}^{{commit}}"]
        result = await _exec(ws, argv, what="reading the integration branch", timeout_s=timeout_s)
        return result.stdout.strip() if result.ok else None
    remote = check_git_argument(target.remote, "remote")
    fetch = ["git", "fetch", "--quiet", "--no-tags", remote, target.ref]
    for _ in range(3):
        result = await _exec(ws, fetch, what=f"git fetch {target.describe()}", timeout_s=timeout_s)
        if result.ok:
            head = await git_steps.git(ws, ["git", "rev-parse", "FETCH_HEAD"], what="FETCH_HEAD")
            return head.strip()
        # One network round trip in the usual case; only a failed fetch asks whether the
        # branch is missing (the first task of a run) or the remote is unreachable. A branch
        # that exists now was created meanwhile by a parallel task: fetch it.
        found = await git_steps.remote_branch_tip(ws, remote, target.branch, timeout_s=timeout_s)
        if found is None:
            return None
    raise _failed(result, f"git fetch {target.describe()}")


@dataclass(frozen=True)
class TaskBranchTip:
    """A task's branch on the remote, to delete only while it still points at `tip`."""

    branch: str
    tip: str

    @property
    def ref(self) -> str:
        return f"refs/heads/{self.branch}"


async def move(
    ws: Workspace,
    target: IntegrationTarget,
    new: str,
    *,
    old: str | None,
    timeout_s: float,
    delete: TaskBranchTip | None = None,
    delete_local: str | None = None,
) -> bool:
    """Point the branch at `new` if it is still at `old` (None: if it does not exist yet), and
    in the same atomic push delete the task branch `delete` (on a remote only), or in the same
    local transaction the task's local branch `delete_local` (no remote: one process, not two).

    False when someone else moved the integration branch first: read the tip again and combine
    again. A task branch that is no longer at its tip stays; the integration branch moves alone.
    """
    if target.remote is None:
        if delete_local is None:
            argv = ["git", "update-ref", target.ref, new, old or NO_COMMIT]
            result = await _exec(ws, argv, what="git update-ref", timeout_s=timeout_s)
            return result.ok
        # One transaction (all or nothing); NUL-separated, so no name can add a command.
        check_git_argument(delete_local, "branch")
        commands = (
            f"update {target.ref}\0{new}\0{old or NO_COMMIT}\0delete refs/heads/{delete_local}\0\0"
        )
        argv = ["git", "update-ref", "--stdin", "-z"]
        result = await _exec(ws, argv, what="git update-ref", timeout_s=timeout_s, stdin=commands)
        return result.ok
    remote = check_git_argument(target.remote, "remote")
    argv = ["git", "push", "--porcelain", f"--force-with-lease={target.ref}:{old or ''}"]
    refspecs = [f"{new}:{target.ref}"]
    if delete is not None:
        check_git_argument(delete.branch, "branch")
        argv += ["--atomic", f"--force-with-lease={delete.ref}:{delete.tip}"]
        refspecs.append(f":{delete.ref}")
    result = await _exec(
        ws, [*argv, remote, *refspecs], what=f"git push {target.describe()}", timeout_s=timeout_s
    )
    if result.ok:
        return True
    if delete is not None and _refused_only_for_the_other_ref(result.stdout, target.ref):
        return await move(ws, target, new, old=old, timeout_s=timeout_s)
    said = f"{result.stdout}\n{result.tail(40)}"
    if any(sign in said for sign in _LOST_RACE):
        return False
    raise _failed(result, f"git push {target.describe()}")


def _refused_only_for_the_other_ref(porcelain: str, ref: str) -> bool:
    """Whether an atomic push failed only because of another ref than `ref` (whose own line
    says `atomic push failed`: it would have been updated)."""
    for line in porcelain.splitlines():
        fields = line.split("\t")
        if len(fields) >= 3 and fields[1].endswith(f":{ref}"):
            return "(atomic push failed)" in fields[2]
    return False


async def delete_task_branch(
    ws: Workspace, remote: str, branch: TaskBranchTip, *, timeout_s: float
) -> bool:
    """Delete a task's branch from the remote if it still points at its tip; False if not."""
    check_git_argument(branch.branch, "branch")
    lease = f"--force-with-lease={branch.ref}:{branch.tip}"
    argv = ["git", "push", "--quiet", lease, check_git_argument(remote, "remote"), f":{branch.ref}"]
    result = await _exec(ws, argv, what=f"deleting {branch.branch}", timeout_s=timeout_s)
    return result.ok


async def find_integrated(
    ws: Workspace, task_id: str, tip: str, *, since: str | None = None
) -> str | None:
    """The commit on the branch's first-parent line (after `since`, if given) that holds the
    task's work, by its `CommandCenter-Task` trailer; None if the task is not on it."""
    if since == tip:
        return None  # nothing landed after `since`
    revisions = f"{since}..{tip}" if since else tip
    argv = [
        "git",
        "log",
        "--first-parent",
        "--fixed-strings",
        f"--grep={TASK_TRAILER}: {task_id}",
        "--format=%H%x00%B%x01",
        revisions,
    ]
    out = await git_steps.git(ws, argv, what="reading the integration branch's history")
    for record in out.split("\x01"):
        sha, _, message = record.strip().partition("\x00")
        if sha and parse_trailers(message).get(TASK_TRAILER) == task_id:
            return sha
    return None


async def combine(
    ws: Workspace,
    *,
    onto: str,
    task_commit: str,
    message: str,
    merge_commit: bool,
) -> Combined | Conflict:
    """The task's commit merged onto `onto` (a three-way merge of trees; the checkout's files
    are not touched): one commit with `onto` as its parent, or with `merge_commit` a merge
    commit whose second parent is the task's commit."""
    argv = ["git", "merge-tree", "--write-tree", "--name-only", "--no-messages", onto, task_commit]
    result = await _exec(ws, argv, what="git merge-tree", timeout_s=git_steps.LOCAL_TIMEOUT_S)
    lines = result.stdout.splitlines()
    if result.returncode == 1 and lines:  # conflicts: the tree line, then the files
        return Conflict(files=sorted({line for line in lines[1:] if line}), onto=onto)
    if not result.ok or not lines:
        raise _failed(result, "git merge-tree")
    tree = lines[0].strip()
    parents = ["-p", onto, *(["-p", task_commit] if merge_commit else [])]
    commit = await git_steps.git(
        ws, ["git", "commit-tree", tree, *parents, "-m", message], what="git commit-tree"
    )
    return Combined(commit=commit.strip(), tree=tree, parent=onto)


async def is_ancestor(ws: Workspace, ancestor: str, descendant: str) -> bool:
    argv = ["git", "merge-base", "--is-ancestor", ancestor, descendant]
    result = await _exec(ws, argv, what="git merge-base", timeout_s=git_steps.LOCAL_TIMEOUT_S)
    if result.returncode in (0, 1):
        return result.returncode == 0
    raise _failed(result, "git merge-base --is-ancestor")


async def tree_of(ws: Workspace, commit: str) -> str:
    out = await git_steps.git(ws, ["git", "rev-parse", f"{commit}^{{tree}}"], what="reading a tree")
    return out.strip()


async def depth(ws: Workspace, commit: str, *, parent: str | None = None) -> int:
    """Commits on `commit`'s first-parent line: orders integrations (later ones are deeper).

    Counting walks the whole line, a cost that grows with every task of the run; a commit's
    line never changes, so a count is remembered, and the commit made on `parent` (its first
    parent) is one deeper than it: an executor integrating task after task counts once."""
    known = _depths.get(commit)
    if known is None and parent is not None and parent in _depths:
        known = _depths[parent] + 1
    if known is None:
        argv = ["git", "rev-list", "--first-parent", "--count", commit]
        known = int((await git_steps.git(ws, argv, what="counting integrations")).strip())
    _depths[commit] = known
    _depths.move_to_end(commit)
    while len(_depths) > _DEPTHS_KEPT:
        _depths.popitem(last=False)
    return known


_DEPTHS_KEPT = 4096
_depths: OrderedDict[str, int] = OrderedDict()
"""First-parent depth by commit id (ids name content and history: a count never goes stale)."""


def forget_depths() -> None:
    """Forget every remembered depth (for tests whose git is a fake with made-up commit ids)."""
    _depths.clear()


async def check_out(ws: Workspace, commit: str) -> None:
    """Put `commit`'s files in the checkout (detached), e.g. to verify a combined tree."""
    argv = ["git", "checkout", "--quiet", "--detach", commit]
    await git_steps.git(ws, argv, what=f"git checkout {commit[:12]}")


async def start_task_branch(ws: Workspace, branch: str, start: str) -> None:
    """(Re)create the task's branch at `start` and check it out."""
    await git_steps.git(ws, git_steps.checkout_argv(branch, start), what=f"git checkout {branch}")
