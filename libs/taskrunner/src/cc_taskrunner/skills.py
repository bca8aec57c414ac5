"""The skills tasks name, read once per executor: time limits, retry rules, prompt text.

A task's `skill` names `<CC_SKILLS_DIR>/<skill>/SKILL.md`, read by `cc_skills` (`load_skill`;
`load_skill_body` for the text of a skill whose contract is unusable). Its contract
decides the task's time limit (`Skill.timeout_s`: the requested limit capped at `max_ms`, no
request → `default_ms`), which failure codes are worth another attempt (`errors[].recoverable`)
and how many attempts the task may get at most (`retries.max_attempts`). A skill that is
missing or unreadable is not fatal: one warning, then the defaults (and, if the file is there,
its text still joins the prompt).

Loaded skills are cached for the life of the catalog (one per executor): a changed skill file
takes effect when the executor restarts.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from cc_skills import SKILL_FILE, Skill, SkillError, load_skill, load_skill_body
from commandcenter_contracts import TaskDispatched

log = logging.getLogger(__name__)

_SKILL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class _Entry:
    skill: Skill | None
    text: str | None


class SkillCatalog:
    def __init__(self, skills_dir: Path | None) -> None:
        self._dir = skills_dir
        self._cache: dict[str, _Entry] = {}

    def get(self, name: str | None) -> Skill | None:
        """The skill `name`, or None (no name, no skills folder, or an unusable file)."""
        return self._entry(name).skill

    def text(self, name: str | None) -> str | None:
        """The skill's markdown (without frontmatter) for the prompt, or None."""
        return self._entry(name).text

    def timeout_s(self, task: TaskDispatched, default_s: float) -> float:
        """The task's time limit: its own (`timeout_s > 0`) or `default_s`, under its skill's
        `timeouts` (requested → capped at `max_ms`; none requested → `default_ms`)."""
        requested = task.timeout_s if task.timeout_s > 0 else None
        skill = self.get(task.skill)
        if skill is None:
            return requested if requested is not None else default_s
        return skill.timeout_s(requested, default_s)

    def recoverable_codes(self, task: TaskDispatched) -> frozenset[str]:
        """Failure codes the task's skill contract marks `recoverable: true`."""
        skill = self.get(task.skill)
        return frozenset(skill.recoverable_codes()) if skill is not None else frozenset()

    def max_attempts(self, task: TaskDispatched) -> int | None:
        """`retries.max_attempts` of the task's skill contract; None when it sets none."""
        skill = self.get(task.skill)
        return skill.attempt_limit if skill is not None else None

    def _entry(self, name: str | None) -> _Entry:
        if not name:
            return _Entry(None, None)
        entry = self._cache.get(name)
        if entry is None:
            entry = self._cache[name] = self._load(name)
        return entry

    def _load(self, name: str) -> _Entry:
        if self._dir is None:
            log.warning("task names skill %r but CC_SKILLS_DIR is not set: defaults apply", name)
            return _Entry(None, None)
        if not _SKILL_NAME.match(name):
            log.warning("skill name %r is not a folder name: defaults apply", name)
            return _Entry(None, None)
        path = self._dir / name / SKILL_FILE
        try:
            skill = load_skill(path)
        except SkillError as exc:
            log.warning("skill %r unusable, defaults apply: %s", name, exc)
            return _Entry(None, _body(path))
        return _Entry(skill, skill.body.strip() or None)


def _body(path: Path) -> str | None:
    """The text of a skill whose contract is unusable (None when the file cannot be read)."""
    try:
        return load_skill_body(path).strip() or None
    except SkillError:
        return None
