"""The demo's sample repository and plan, modelled on the real plans the old system ran."""

from __future__ import annotations

from pathlib import Path

from commandcenter.gitfixtures import GitSandbox, make_git_sandbox

FENCE = "```"


def _task(
    number: str, title: str, path: str, content: str, commit: str, needs: str | None = None
) -> str:
    # `needs`: a file an earlier task creates; the check passes only on top of that work.
    extra = f"\n- `test -s {needs}`" if needs else ""
    return f"""### Task {number}: {title}

**Files:**
- Create: {path}

**Implementation:**
{title}.

Create `{path}`:
{FENCE}
{content}
{FENCE}

**Verification:**
- `test -s {path}`{extra}
- The file says what it is for

**Commit:** {commit}
"""


def sample_plan() -> str:
    return "\n".join(
        [
            "# Demo Plan: Greeting Service",
            "",
            "A two-batch plan in the shape of the CC4 master plans, for `commandcenter demo`.",
            "",
            "## Batch 1: Foundations (2 tasks)",
            "",
            "**Dependencies:** None",
            "",
            _task(
                "1.1",
                "Create the greeting module",
                "greeting/hello.py",
                'def greet(name: str) -> str:\n    return f"Hello, {name}!"',
                "feat(greeting): add greet()",
            ),
            _task(
                "1.2",
                "Document the greeting module",
                "docs/greeting.md",
                "# Greeting\n\n`greet(name)` returns a friendly greeting.",
                "docs(greeting): describe greet()",
            ),
            "## Batch 2: Packaging (2 tasks)",
            "",
            "**Dependencies:** Batch 1",
            "",
            _task(
                "2.1",
                "Add a package marker",
                "greeting/__init__.py",
                'from greeting.hello import greet\n\n__all__ = ["greet"]',
                "feat(greeting): export greet",
                needs="greeting/hello.py",
            ),
            _task(
                "2.2",
                "Add a changelog",
                "CHANGELOG.md",
                "# Changelog\n\n- 0.1.0: greet()",
                "docs: start the changelog",
            ),
        ]
    )


def create_sample(root: Path) -> tuple[GitSandbox, Path]:
    """A repository with a bare `origin` and `MASTER_PLAN.md` committed on `main`."""
    sandbox = make_git_sandbox(
        root,
        files={
            "README.md": "# greeting\n\nA sample repository for the CommandCenter demo.\n",
            "docs/plans/MASTER_PLAN.md": sample_plan(),
        },
    )
    return sandbox, sandbox.repo / "docs" / "plans" / "MASTER_PLAN.md"
