"""Skill files: a YAML frontmatter contract plus markdown guidance for agents.

skills = load_skills("skills")
skill = skills["operations"]
timeout = skill.timeout_s(task.timeout_s, default=1800)
prompt = task.body + "\n\n" + skill.body
"""

from cc_skills.contract import (
    AuthScope,
    Contract,
    ErrorSpec,
    Inputs,
    Output,
    Param,
    Retries,
    SideEffect,
    SkillMeta,
    Timeouts,
)
from cc_skills.loader import (
    SKILL_FILE,
    Skill,
    SkillError,
    load_skill,
    load_skill_body,
    load_skills,
    parse_skill,
    skill_body,
)

__all__ = [
    "SKILL_FILE",
    "AuthScope",
    "Contract",
    "ErrorSpec",
    "Inputs",
    "Output",
    "Param",
    "Retries",
    "SideEffect",
    "Skill",
    "SkillError",
    "SkillMeta",
    "Timeouts",
    "load_skill",
    "load_skill_body",
    "load_skills",
    "parse_skill",
    "skill_body",
]
