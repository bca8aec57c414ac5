"""Task ids, event ids and branch names: deterministic, and always valid git branch names."""

from __future__ import annotations

import random
import subprocess
import uuid

import pytest
from planner.domain.naming import branch_names, event_id, slugify, task_id

NASTY_TITLES = [
    "",
    " ",
    "..",
    "...",
    ".hidden",
    "trailing.",
    "trailing/",
    "a..b",
    "a//b",
    "@",
    "@{u}",
    "x@{1}",
    "-leading-dash",
    "--",
    "refs/heads/main",
    "HEAD",
    "name.lock",
    "name.lock.lock",
    "x.lock.",
    "~^:?*[\\",
    "tab\there",
    "new\nline",
    "nul\x00byte",
    "del\x7fchar",
    "Ünïcödé ▶ émoji 🚀 漢字",
    "\uff26\uff35\uff2c\uff2c\uff37\uff29\uff24\uff34\uff28",  # full-width FULLWIDTH
    "$(rm -rf /); `reboot` && echo pwned | sh",
    "'quotes' \"double\"",
    "a" * 300,
    "." * 80,
    "-" * 80,
    "x" * 59 + ".lock",
    "x" * 58 + "..y",
    "Create Config Validation Service",
    "🚀🚀🚀",
]

ALPHABET = "abcXYZ019 ._-/@{}~^:?*[]\\\t\n\x00\x7f.lock€漢🚀'\"$`|&;<>()"


def _random_titles(count: int, seed: int = 1234) -> list[str]:
    rng = random.Random(seed)
    titles = []
    for _ in range(count):
        size = rng.randint(0, 90)
        titles.append("".join(rng.choice(ALPHABET) for _ in range(size)))
    # fragments that are specially meaningful to git, glued at random
    pieces = ["..", ".lock", "@{", "/", ".", "-", "//", "~", "^", ":", " "]
    for _ in range(count):
        titles.append("".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))))
    return titles


def _check_ref_format(names: list[str]) -> list[str]:
    """The names `git check-ref-format --branch` refuses (called with argv, no shell)."""
    refused = []
    for name in names:
        result = subprocess.run(  # noqa: S603 - fixed argv, the name is one argument
            ["git", "check-ref-format", "--branch", name],
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            refused.append(name)
    return refused


def _is_valid_by_rules(name: str) -> bool:
    """git's ref rules (git-check-ref-format(1)), checked without git for many inputs."""
    if not name or name.startswith("-") or name.endswith(("/", ".")) or "//" in name:
        return False
    if ".." in name or "@{" in name or name == "@":
        return False
    if any(ord(c) < 0x20 or c in " ~^:?*[\\\x7f" for c in name):
        return False
    return all(
        part and not part.startswith(".") and not part.endswith(".lock") for part in name.split("/")
    )


def test_task_ids_are_deterministic_uuids() -> None:
    run = str(uuid.uuid4())
    first = task_id(run, 0, 1)
    assert first == task_id(run, 0, 1)
    assert uuid.UUID(first).version == 5
    assert len({task_id(run, b, t) for b in range(5) for t in range(5)}) == 25
    assert task_id(run, 0, 1) != task_id(str(uuid.uuid4()), 0, 1)


def test_event_ids_depend_on_run_and_name() -> None:
    run = str(uuid.uuid4())
    assert event_id(run, "batch.started/1") == event_id(run, "batch.started/1")
    assert event_id(run, "batch.started/1") != event_id(run, "batch.started/2")
    assert event_id(run, "run.started") != event_id(str(uuid.uuid4()), "run.started")


def test_branch_names_keep_the_plan_task_id_and_title() -> None:
    run = "1a2b3c4d-0000-0000-0000-000000000000"
    names = branch_names(run, [("4.1.2", "Create Config Validation Service")])
    assert names == ["cc/1a2b3c4d/4.1.2-create-config-validation-service"]


def test_branch_names_are_unique_within_a_run() -> None:
    run = str(uuid.uuid4())
    names = branch_names(run, [("1.1", "Same"), ("1.1", "Same"), ("1.1", "same!"), ("x", "")])
    assert len(set(names)) == 4
    assert names[1].endswith("-2") and names[2].endswith("-3")


def test_branch_names_suffix_stays_unique_when_the_slug_is_at_its_longest() -> None:
    names = branch_names("r", [("1", "y" * 200)] * 12)
    assert len(set(names)) == 12
    assert all(len(n.split("/")[-1]) <= 60 for n in names)


@pytest.mark.parametrize("title", NASTY_TITLES)
def test_slugs_of_nasty_titles_follow_the_ref_rules(title: str) -> None:
    slug = slugify(title)
    assert slug
    assert _is_valid_by_rules(f"cc/12345678/{slug}"), slug
    assert len(slug) <= 60


def test_many_random_titles_follow_the_ref_rules() -> None:
    run = str(uuid.uuid4())
    titles = _random_titles(2000)
    names = branch_names(run, [(t[:5], t) for t in titles])
    bad = [n for n in names if not _is_valid_by_rules(n)]
    assert bad == []
    assert len(set(names)) == len(names)


def test_real_git_accepts_every_branch_name() -> None:
    run = str(uuid.uuid4())
    titles = NASTY_TITLES + _random_titles(150, seed=99)
    pairs = [(t[:6], t) for t in titles] + [(t, "title") for t in NASTY_TITLES]
    names = branch_names(run, pairs)
    assert _check_ref_format(names) == []


def test_strange_run_ids_still_give_valid_branches() -> None:
    names = [branch_names(run, [("1", "x")])[0] for run in ["..", "-", "", "@{/x", "🚀🚀"]]
    assert _check_ref_format(names) == []


def test_the_rule_checker_agrees_with_git() -> None:
    """Guard for the fast checker above: it refuses what git refuses on known-bad names."""
    samples = ["cc/x/a..b", "cc/x/.a", "cc/x/a.lock", "cc/x/a b", "-x", "cc/x/a.", "ok/fine-1.2"]
    refused = set(_check_ref_format(samples))
    assert {s for s in samples if not _is_valid_by_rules(s)} == refused
