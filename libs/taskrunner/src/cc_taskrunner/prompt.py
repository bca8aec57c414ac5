"""The prompt an agent gets: the task's markdown, its verification notes, the skill text
(`SkillCatalog.text`, read by `cc_skills`)."""

from __future__ import annotations

from commandcenter_contracts import Rework, TaskDispatched

from cc_taskrunner.ports import FixRound


def build_prompt(task: TaskDispatched, *, skill_text: str | None = None) -> str:
    parts = [f"# Task {task.plan_task_id}: {task.title}".rstrip(), "", task.body.strip()]
    if task.files:
        parts += ["", "## Files", *(f"- {name}" for name in task.files)]
    if task.verification or task.verification_notes:
        parts += ["", "## How the result is checked"]
        parts += [f"- run `{command}`" for command in task.verification]
        parts += [f"- {note}" for note in task.verification_notes]
    if task.rework is not None:
        parts += ["", *_rework_section(task.rework, task.integration_branch)]
    parts += [
        "",
        "## Working agreement",
        f"- You are in a git checkout of branch `{task.branch}`; change files only inside it.",
        "- Do not push and do not switch branches: CommandCenter commits what you leave and "
        "pushes the branch after checking it.",
    ]
    if task.integration_branch:
        parts.append(
            f"- The checkout starts from `{task.integration_branch}`, which holds the work of "
            "the tasks before this one: build on it, do not undo it."
        )
    if skill_text:
        parts += ["", f"## Skill: {task.skill}", "", skill_text.strip()]
    return "\n".join(parts).strip() + "\n"


def _rework_section(rework: Rework, integration_branch: str) -> list[str]:
    """What went wrong with the earlier attempt, so the agent can avoid it this time."""
    branch = f"`{integration_branch}`" if integration_branch else "the integration branch"
    lines = [f"## This is a re-run (attempt {rework.after_attempt} could not be integrated)"]
    if rework.reason == "conflict":
        lines.append(
            f"Attempt {rework.after_attempt}'s changes clashed with work integrated on {branch} "
            "meanwhile, in these files:"
        )
        lines += [f"- {name}" for name in rework.files]
        lines.append(
            "Your checkout now starts from that work. Make the task's change on top of it, "
            "keeping what is there."
        )
    else:
        lines.append(
            f"Attempt {rework.after_attempt} passed its checks alone but failed on {branch} "
            f"combined with the work integrated meanwhile: `{rework.command}` {rework.output}"
        )
        lines.append(
            "Your checkout now starts from that combined work. Make the task's change so "
            "that the check passes on top of it."
        )
    return lines


def fix_message(fix: FixRound) -> str:
    """What the agent is told when it is sent back: which check failed, how, and what to do."""
    where = (
        "on the integration branch combined with the work integrated before this task (your "
        "checkout now holds that combination)"
        if fix.combined
        else "on your work"
    )
    return (
        f"## Fix round {fix.number}: a check failed\n\n"
        f"The check `{fix.command}` failed {where}. It {fix.failure}\n\n"
        "Change the files so that this check passes, without breaking the task. Do not push "
        "and do not switch branches; CommandCenter commits what you leave and checks again.\n"
    )


def with_fix(prompt: str, fix: FixRound | None) -> str:
    """The task's prompt with the fix round's message after it (agents that start afresh)."""
    return prompt if fix is None else f"{prompt.rstrip()}\n\n{fix_message(fix)}"
