"""What `commandcenter prune` decides for each branch, given the runs (the whole command runs
against a real stack in tests/e2e/test_task_branches.py): the cases a stack cannot easily
show — an integration branch merged into the base, a prefix several runs share."""

from __future__ import annotations

from pathlib import Path

from commandcenter.gitfixtures import git, make_git_sandbox
from commandcenter.prune import RunFacts, Verdict, contains, judge, run8_of


def facts(run_id: str, status: str, *, land: str = "branch", landed: str | None = None) -> RunFacts:
    return RunFacts(
        id=run_id,
        status=status,
        integration_branch=f"cc/{run_id[:8]}/integration",
        land=land,
        landed_commit=landed,
    )


def test_branch_names_of_runs() -> None:
    assert run8_of("cc/abcd1234/1.1-task") == "abcd1234"
    assert run8_of("cc/abcd1234/x/y") == "abcd1234"
    assert [run8_of(b) for b in ("main", "cc/abcd1234", "cc//x", "ccx/a/b")] == [None] * 4


def test_integration_branches_go_only_when_merged_into_the_base(tmp_path: Path) -> None:
    repo = make_git_sandbox(tmp_path).repo
    base = git(repo, "rev-parse", "HEAD").strip()
    (repo / "more.txt").write_text("more\n")
    git(repo, "add", "more.txt")
    git(repo, "commit", "-q", "-m", "more")
    tip = git(repo, "rev-parse", "HEAD").strip()
    merged, unmerged, pr = "11111111-a", "22222222-b", "33333333-c"
    runs = {
        "11111111": [facts(merged, "succeeded", land="merge", landed=tip)],
        # landed at the base commit, but the branch holds more: kept
        "22222222": [facts(unmerged, "succeeded", land="merge", landed=base)],
        "33333333": [facts(pr, "succeeded", land="pr", landed=tip)],
        "44444444": [facts("44444444-d", "halted"), facts("44444444-e", "failed")],
    }
    branches = {
        "cc/11111111/integration": tip,
        "cc/11111111/1.1-task": tip,
        "cc/22222222/integration": tip,
        "cc/33333333/integration": tip,
        "cc/44444444/1.1-task": tip,
        "main": tip,
    }
    verdicts = judge(branches, checked_out=set(), runs=runs, contains=contains(repo))
    assert verdicts == [
        Verdict("cc/11111111/1.1-task", True, "task branch of run 11111111 (succeeded)"),
        Verdict("cc/11111111/integration", True, "integration branch of run 11111111, merged"),
        Verdict(
            "cc/22222222/integration", False, "integration branch of run 22222222 (not landed)"
        ),
        Verdict(
            "cc/33333333/integration", False, "integration branch of run 33333333 (not landed)"
        ),
        Verdict("cc/44444444/1.1-task", False, "2 runs start with 44444444"),
    ]
