"""`commandcenter prune`: the task branches that ended runs left in a repository, and its stale
worktrees.

Local mode deletes a task's branch once its work is pushed or integrated; what remains are the
branches of failed tasks (kept for inspection), of runs that asked to `keep_task_branches`, and
of executors that died at the wrong moment. Prune asks the gateway which runs ended and deletes
the local `cc/<run8>/…` branches of those runs, but never:

- a branch outside `cc/`;
- a branch of a run the gateway does not know, or of one that has not ended;
- a run's integration branch (its result), unless the run landed it into the base branch
  (`land: merge`) and the branch holds nothing the base branch does not;
- a branch checked out in any worktree (the user's checkout included).

Stale worktrees (folders deleted by hand, by a crash) are pruned first (`git worktree prune`),
so their branches are free. Git runs with argv lists: no branch name reaches a shell.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from commandcenter_contracts import RUN_ENDED

from commandcenter.gateway_client import CliError, Gateway, client, get_json, path_part

PREFIX = "cc/"
RUNS_LISTED = 500
"""Runs asked for in one listing; older runs are looked up one by one by their prefix."""


@dataclass(frozen=True, kw_only=True)
class RunFacts:
    """What prune needs to know of a run (from `GET /api/v1/runs/{id}`)."""

    id: str
    status: str
    integration_branch: str
    land: str
    landed_commit: str | None

    @classmethod
    def from_view(cls, view: Mapping[str, Any]) -> RunFacts:
        return cls(
            id=str(view["id"]),
            status=str(view["status"]),
            integration_branch=str(view.get("integration_branch") or ""),
            land=str(view.get("land") or "branch"),
            landed_commit=view.get("landed_commit"),
        )

    @property
    def ended(self) -> bool:
        return self.status in RUN_ENDED


@dataclass(frozen=True)
class Verdict:
    branch: str
    delete: bool
    why: str


def run8_of(branch: str) -> str | None:
    """`abcd1234` of `cc/abcd1234/…`; None for a branch that is not a run's."""
    if not branch.startswith(PREFIX):
        return None
    run8, sep, rest = branch[len(PREFIX) :].partition("/")
    return run8 if sep and rest and run8 else None


def judge(
    branches: Mapping[str, str],
    *,
    checked_out: set[str],
    runs: Mapping[str, list[RunFacts]],
    contains: Callable[[str, str], bool],
) -> list[Verdict]:
    """What becomes of each local branch (name → tip) under `cc/`. `runs`: the runs each
    `run8` may be; `contains(commit, tip)`: whether `commit` holds `tip`."""
    verdicts = []
    for branch, tip in sorted(branches.items()):
        run8 = run8_of(branch)
        if run8 is None:
            continue
        verdicts.append(_verdict(branch, tip, run8, checked_out, runs.get(run8, []), contains))
    return verdicts


def _verdict(
    branch: str,
    tip: str,
    run8: str,
    checked_out: set[str],
    matches: list[RunFacts],
    contains: Callable[[str, str], bool],
) -> Verdict:
    if not matches:
        return Verdict(branch, False, f"no run {run8} known to the gateway")
    if len(matches) > 1:
        return Verdict(branch, False, f"{len(matches)} runs start with {run8}")
    run = matches[0]
    if branch in checked_out:
        return Verdict(branch, False, "checked out in a worktree")
    if not run.ended:
        return Verdict(branch, False, f"run {run8} has not ended ({run.status})")
    if branch == run.integration_branch:
        merged = run.land == "merge" and run.landed_commit is not None
        if merged and run.landed_commit is not None and contains(run.landed_commit, tip):
            return Verdict(branch, True, f"integration branch of run {run8}, merged")
        return Verdict(branch, False, f"integration branch of run {run8} (not landed)")
    return Verdict(branch, True, f"task branch of run {run8} ({run.status})")


# --- git ------------------------------------------------------------------------------------
def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(  # noqa: S603 - argv list, never a shell
        ["git", *args], cwd=repo, capture_output=True, text=True, check=False
    )
    if check and result.returncode != 0:
        raise CliError(f"git {args[0]} failed in {repo}: {result.stderr.strip()}")
    return result


def run_branches(repo: Path) -> dict[str, str]:
    """The repository's local `cc/…` branches and their tips."""
    out = _git(
        repo, "for-each-ref", "--format=%(refname:strip=2)%00%(objectname)", "refs/heads/cc/"
    )
    pairs = (line.split("\x00") for line in out.stdout.splitlines() if line)
    return {name: tip for name, tip in pairs}


@dataclass(frozen=True)
class Worktrees:
    checked_out: set[str]
    """Branches checked out in a worktree that is still there (the main one included)."""
    stale: list[str]
    """Worktrees whose folder is gone: `git worktree prune` removes them."""


def worktrees(repo: Path) -> Worktrees:
    out = _git(repo, "worktree", "list", "--porcelain").stdout
    checked_out: set[str] = set()
    stale: list[str] = []
    for record in out.split("\n\n"):
        fields = dict(line.partition(" ")[::2] for line in record.splitlines() if line)
        if "worktree" not in fields:
            continue
        if "prunable" in fields:
            stale.append(fields["worktree"])
        elif fields.get("branch", "").startswith("refs/heads/"):
            checked_out.add(fields["branch"].removeprefix("refs/heads/"))
    return Worktrees(checked_out, stale)


def contains(repo: Path) -> Callable[[str, str], bool]:
    def check(commit: str, tip: str) -> bool:
        return _git(repo, "merge-base", "--is-ancestor", tip, commit, check=False).returncode == 0

    return check


# --- the gateway ----------------------------------------------------------------------------
def runs_for(http: httpx.Client, prefixes: Iterable[str]) -> dict[str, list[RunFacts]]:
    """The runs each `run8` may be: from the newest runs, else by asking for the prefix."""
    wanted = set(prefixes)
    listed = get_json(http, "/api/v1/runs", params={"limit": RUNS_LISTED})["items"]
    ids: dict[str, list[str]] = {}
    for item in listed:
        if item["id"][:8] in wanted:
            ids.setdefault(item["id"][:8], []).append(item["id"])
    found: dict[str, list[RunFacts]] = {}
    for run8 in sorted(wanted):
        if run8 in ids:
            found[run8] = [_facts(http, run_id) for run_id in ids[run8]]
            continue
        answer = http.get(f"/api/v1/runs/{path_part(run8)}")
        if answer.status_code == 200:  # an older run, found by its prefix
            found[run8] = [RunFacts.from_view(answer.json())]
        elif answer.status_code == 409:  # several runs start with it: keep their branches
            found[run8] = [_several(run8), _several(run8)]
    return found


def _several(run8: str) -> RunFacts:
    return RunFacts(id=run8, status="", integration_branch="", land="", landed_commit=None)


def _facts(http: httpx.Client, run_id: str) -> RunFacts:
    return RunFacts.from_view(get_json(http, f"/api/v1/runs/{path_part(run_id)}"))


# --- the command ----------------------------------------------------------------------------
def prune(*, gateway: Gateway, repo: Path, dry_run: bool) -> int:
    repo = repo.expanduser().resolve()
    if _git(repo, "rev-parse", "--git-dir", check=False).returncode != 0:
        raise CliError(f"--repo {repo} is not a git repository")
    trees = worktrees(repo)
    for path in trees.stale:
        print(f"{'would prune' if dry_run else 'pruned'} worktree {path} (its folder is gone)")
    if trees.stale and not dry_run:
        _git(repo, "worktree", "prune")
    branches = run_branches(repo)
    prefixes = {run8 for run8 in map(run8_of, branches) if run8 is not None}
    with client(gateway) as http:
        runs = runs_for(http, prefixes) if prefixes else {}
    verdicts = judge(branches, checked_out=trees.checked_out, runs=runs, contains=contains(repo))
    deleted = 0
    for verdict in verdicts:
        if not verdict.delete:
            print(f"kept {verdict.branch}: {verdict.why}")
            continue
        if dry_run:
            print(f"would delete {verdict.branch}: {verdict.why}")
            deleted += 1
            continue
        result = _git(repo, "branch", "--quiet", "-D", "--", verdict.branch, check=False)
        if result.returncode == 0:
            print(f"deleted {verdict.branch}: {verdict.why}")
            deleted += 1
        else:
            print(f"kept {verdict.branch}: git refused ({result.stderr.strip()})")
    kept = len(verdicts) - deleted
    what = "would delete" if dry_run else "deleted"
    print(f"{what} {deleted} branch{'es' if deleted != 1 else ''}, kept {kept}")
    return 0
