"""Reading skill files: `---` YAML frontmatter `---` then the markdown body."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import msgspec
import yaml

from cc_skills.contract import SkillMeta

SKILL_FILE = "SKILL.md"


class SkillError(ValueError):
    """A skill file that cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Skill:
    meta: SkillMeta
    body: str
    path: Path

    @property
    def name(self) -> str:
        return self.meta.name

    def timeout_s(self, requested: float | None, default: float) -> float:
        """A task's time limit under this skill: the requested one capped at the contract's
        `max_ms`; no request → the contract's `default_ms`; no timeouts in the contract →
        the request, else `default`."""
        timeouts = self.meta.contract.timeouts if self.meta.contract else None
        if timeouts is None:
            return requested if requested is not None else default
        if requested is None:
            return timeouts.default_ms / 1000
        return min(requested, timeouts.max_ms / 1000)

    def recoverable_codes(self) -> set[str]:
        """Error codes the contract marks `recoverable: true`."""
        contract = self.meta.contract
        return {e.code for e in contract.errors if e.recoverable} if contract else set()

    @property
    def attempt_limit(self) -> int | None:
        """`contract.retries.max_attempts`; None when the contract sets no `retries`."""
        contract = self.meta.contract
        return contract.retries.max_attempts if contract and contract.retries else None

    @property
    def max_attempts(self) -> int:
        """Attempts a task using this skill may get (`contract.retries.max_attempts`, else 1)."""
        limit = self.attempt_limit
        return limit if limit is not None else 1


def split_frontmatter(text: str) -> tuple[str, str]:
    """`(yaml, body)`; raises ValueError when the text does not open with a `---` block."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise ValueError("does not start with a '---' frontmatter line")
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return "".join(lines[1:i]), "".join(lines[i + 1 :]).lstrip("\n")
    raise ValueError("frontmatter is not closed by a '---' line")


def skill_body(text: str) -> str:
    """The markdown after the frontmatter, whatever the frontmatter holds (valid or not); the
    whole text when it opens with no closed `---` block."""
    try:
        return split_frontmatter(text)[1]
    except ValueError:
        return text


def parse_skill(text: str, path: Path) -> Skill:
    try:
        header, body = split_frontmatter(text)
    except ValueError as exc:
        raise SkillError(f"{path}: {exc}") from None
    try:
        data = yaml.safe_load(header)
    except yaml.YAMLError as exc:
        raise SkillError(f"{path}: frontmatter is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise SkillError(f"{path}: frontmatter must be a mapping of fields")
    updated = data.get("updated")
    if isinstance(updated, dt.date):  # also datetime, a subclass
        data = {**data, "updated": updated.isoformat()}
    try:
        meta = msgspec.convert(data, SkillMeta)
    except msgspec.ValidationError as exc:
        raise SkillError(f"{path}: invalid frontmatter: {exc}") from None
    return Skill(meta=meta, body=body, path=path)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SkillError(f"{path}: cannot read: {exc}") from None


def load_skill(path: str | Path) -> Skill:
    """Read and validate one skill file; `SkillError` names the file and the bad field."""
    path = Path(path)
    return parse_skill(_read(path), path)


def load_skill_body(path: str | Path) -> str:
    """A skill file's markdown without its frontmatter, not validated: the guidance of a skill
    whose contract is broken is still usable. `SkillError` when the file cannot be read."""
    return skill_body(_read(Path(path)))


def load_skills(directory: str | Path) -> dict[str, Skill]:
    """Every `<dir>/<name>/SKILL.md`, by skill name; two files with one name are an error."""
    directory = Path(directory)
    if not directory.is_dir():
        raise SkillError(f"{directory}: not a directory of skills")
    skills: dict[str, Skill] = {}
    for path in sorted(directory.glob(f"*/{SKILL_FILE}")):
        skill = load_skill(path)
        if skill.name in skills:
            raise SkillError(
                f"{path}: skill name {skill.name!r} is already used by {skills[skill.name].path}"
            )
        skills[skill.name] = skill
    return skills
