"""Confinement and limits through the API: plan files and repositories only inside
`CC_ALLOWED_ROOTS` (symlinks and `..` resolved), repository and push URLs only as
`CC_ALLOWED_REMOTES` allows, plans up to `CC_PLAN_MAX_BYTES`, bodies up to
`CC_GATEWAY_MAX_BODY_BYTES`. A refused path's answer never carries a byte of the file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from commandcenter.gitfixtures import GitSandbox
from gateway.confinement import Confinement
from gateway.domain_errors import InvalidRequest, NotPermitted
from gateway.settings import Settings
from gateway_support import Client

SECRET = "# TOP-SECRET-TITLE from outside the roots"
"""The first line of a file outside the roots: it would be the plan's title if it leaked."""
PLAN_MAX_BYTES = 4096
BODY_MAX_BYTES = 64 * 1024


@pytest.fixture
def settings(settings: Settings, plan_repo: GitSandbox) -> Settings:
    """The gateway confined to the plan repository alone, with small limits."""
    return dataclasses.replace(
        settings,
        allowed_roots=(plan_repo.repo,),
        plan_max_bytes=PLAN_MAX_BYTES,
        max_body_bytes=BODY_MAX_BYTES,
    )


@pytest.fixture
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plan-looking file outside the roots."""
    secret = tmp_path_factory.mktemp("outside") / "secret.md"
    secret.write_text(f"{SECRET}\n\n## Batch 1: B\n\n### Task 1.1: T\n")
    return secret


def _refused(r_status: int, text: str, setting: str = "CC_ALLOWED_ROOTS") -> None:
    assert r_status == 403, text
    assert setting in text
    assert "TOP-SECRET" not in text


# --- the rules, without servers ----------------------------------------------------------------
def test_a_path_is_judged_where_it_really_is(tmp_path: Path) -> None:
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    (root / "link").symlink_to(elsewhere)
    rules = Confinement.of([root])
    assert rules.path("plan_path", "x", root / "sub" / "PLAN.md") == root / "sub" / "PLAN.md"
    for sneaky in (root / "link" / "PLAN.md", root / ".." / "elsewhere" / "PLAN.md", elsewhere):
        with pytest.raises(NotPermitted) as caught:
            rules.path("plan_path", str(sneaky), sneaky)
        assert caught.value.setting == "CC_ALLOWED_ROOTS"
    assert not Confinement.of([root / "sub"]).allows(root)  # a root's parent is outside


def test_remotes_follow_the_patterns(tmp_path: Path) -> None:
    rules = Confinement.of([tmp_path], ["https://git.example.com/*"])
    assert rules.remote("repo", "https://git.example.com/a/b.git")
    for url in ("https://evil.example/a.git", "ssh://git.example.com/a", "file:///etc"):
        with pytest.raises(NotPermitted) as caught:
            rules.remote("repo", url)
        assert caught.value.setting == "CC_ALLOWED_REMOTES"
    assert rules.push_remote("origin") == "origin"
    assert rules.push_remote(str(tmp_path / "mirror.git"))
    with pytest.raises(NotPermitted):
        rules.push_remote("/srv/elsewhere.git")
    with pytest.raises(NotPermitted):
        rules.push_remote("git@example.com:team/r.git")
    for relative in ("../up", "ext::sh -c id"):
        with pytest.raises(InvalidRequest):
            rules.push_remote(relative)


# --- through the API ---------------------------------------------------------------------------
@pytest.mark.integration
async def test_plans_outside_the_roots_are_refused_without_a_byte_of_them(
    client: Client, plan_repo: GitSandbox, outside: Path
) -> None:
    link = plan_repo.repo / "docs" / "plans" / "LINK.md"
    link.symlink_to(outside)
    escape = f"../../{outside.parent.name}/{outside.name}"  # relative, through `..`
    missing = outside.parent / "nothing-here.md"  # its answer must not differ from a real one
    for plan_path in (str(outside), str(link), "docs/plans/LINK.md", escape, str(missing)):
        for endpoint in ("/api/v1/plans/parse", "/api/v1/runs", "/api/v1/autonomous/start"):
            r = await client.post(endpoint, json={"plan_path": plan_path})
            _refused(r.status_code, r.text)
            assert r.json()["extra"][0]["key"] == "plan_path"


@pytest.mark.integration
async def test_only_markdown_plans_under_the_size_limit_are_read(
    client: Client, plan_repo: GitSandbox
) -> None:
    (plan_repo.repo / "notes.txt").write_text("## Batch 1: B\n\n### Task 1.1: T\n")
    r = await client.post("/api/v1/plans/parse", json={"plan_path": "notes.txt"})
    assert r.status_code == 400, r.text
    sneaky = plan_repo.repo / "notes.md"
    sneaky.symlink_to(plan_repo.repo / "notes.txt")  # a .md name for a file that is not one
    r = await client.post("/api/v1/plans/parse", json={"plan_path": "notes.md"})
    assert r.status_code == 400, r.text
    assert "only markdown plans" in r.json()["detail"]

    big = plan_repo.repo / "BIG.md"
    big.write_text("## Batch 1: B\n\n### Task 1.1: T\n" + "x" * PLAN_MAX_BYTES)
    for endpoint in ("/api/v1/plans/parse", "/api/v1/runs"):
        r = await client.post(endpoint, json={"plan_path": "BIG.md"})
        assert r.status_code == 413, r.text
        assert r.json()["setting"] == "CC_PLAN_MAX_BYTES"
    r = await client.post("/api/v1/plans/parse", json={"text": "x" * (PLAN_MAX_BYTES + 1)})
    assert r.status_code == 413, r.text
    assert r.json()["extra"][0]["key"] == "text"


@pytest.mark.integration
async def test_a_body_over_the_limit_is_413(client: Client) -> None:
    r = await client.post("/api/v1/plans/parse", json={"text": "x" * BODY_MAX_BYTES})
    assert r.status_code == 413, r.text
    assert r.json()["setting"] == "CC_GATEWAY_MAX_BODY_BYTES"
    assert str(BODY_MAX_BYTES) in r.json()["detail"]


@pytest.mark.integration
async def test_repositories_and_remotes_are_confined(
    client: Client, plan_repo: GitSandbox, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("other-repo")
    (plan_repo.repo / "docs" / "repo-link").symlink_to(elsewhere)
    plan = "docs/plans/TWO.md"
    for repo in (str(elsewhere), "docs/repo-link", "../other-repo"):
        r = await client.post("/api/v1/runs", json={"plan_path": plan, "repo": repo})
        _refused(r.status_code, r.text)
        assert r.json()["extra"][0]["key"] == "repo"
    dagger = {"plan_path": plan, "mode": "dagger"}
    for url in ("ssh://git@example.com/r.git", "git@example.com:r.git", "file:///etc"):
        r = await client.post("/api/v1/runs", json={**dagger, "repo": url})
        _refused(r.status_code, r.text, "CC_ALLOWED_REMOTES")
    r = await client.post("/api/v1/runs", json={**dagger, "repo": "https://example.com/r.git"})
    assert r.status_code == 202, r.text
    r = await client.post("/api/v1/runs", json={"plan_path": plan, "remote": "/srv/mirror.git"})
    _refused(r.status_code, r.text)
    r = await client.post("/api/v1/runs", json={"plan_path": plan, "remote": "ssh://h/r.git"})
    _refused(r.status_code, r.text, "CC_ALLOWED_REMOTES")


@pytest.mark.integration
async def test_the_schema_says_unknown_fields_are_refused(client: Client) -> None:
    schemas = (await client.get("/schema/openapi.json")).json()["components"]["schemas"]
    for name in ("RunRequest", "PlanParseRequest", "ReplayRequest", "BudgetRequest"):
        assert schemas[name]["additionalProperties"] is False, name
    r = await client.post("/api/v1/plans/parse", json={"text": "# x", "txet": "# y"})
    assert r.status_code == 400
