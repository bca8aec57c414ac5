"""GitHubForge against a fake GitHub that checks every request and answer against GitHub's own
OpenAPI description and GraphQL schema (tests/support/fake_github.py)."""

from __future__ import annotations

import httpx
import pytest
from cc_forge import ForgeError, GitHubForge, PullRequest

from tests.support.fake_github import FakeGitHub

pytestmark = pytest.mark.integration

HEAD, BASE = "cc/run-42", "main"


def operations(fake: FakeGitHub) -> list[str | None]:
    return [r.operation for r in fake.requests]


async def test_opens_a_draft_once(forge: GitHubForge, fake_github: FakeGitHub) -> None:
    first = await forge.open_or_update(head=HEAD, base=BASE, title="Run 42", body="Tasks: 3")
    again = await forge.open_or_update(head=HEAD, base=BASE, title="Run 42", body="Tasks: 3")

    assert first == again
    assert first.state == "draft"
    assert first.url == f"https://github.com/octo/widgets/pull/{first.number}"
    assert first.node_id
    assert operations(fake_github) == ["pulls/list", "pulls/create", "pulls/list"]
    create = fake_github.requests[1]
    assert create.body == {
        "title": "Run 42",
        "head": HEAD,
        "base": BASE,
        "body": "Tasks: 3",
        "draft": True,
    }
    lookup = fake_github.requests[0]
    assert lookup.query == {"head": [f"octo:{HEAD}"], "base": [BASE], "state": ["open"]}
    assert lookup.headers["x-github-api-version"] == "2022-11-28"
    assert lookup.headers["accept"] == "application/vnd.github+json"
    assert [(p.head, p.base, p.draft) for p in fake_github.pulls] == [(HEAD, BASE, True)]
    assert fake_github.violations == []


async def test_updates_title_and_body_only_when_they_changed(
    forge: GitHubForge, fake_github: FakeGitHub
) -> None:
    opened = await forge.open_or_update(head=HEAD, base=BASE, title="Run 42", body="running")

    retitled = await forge.open_or_update(head=HEAD, base=BASE, title="Run 42 ✓", body="running")
    rewritten = await forge.open_or_update(head=HEAD, base=BASE, title="Run 42 ✓", body="done")
    unchanged = await forge.open_or_update(head=HEAD, base=BASE, title="Run 42 ✓", body="done")

    assert retitled.number == rewritten.number == unchanged.number == opened.number
    patches = [r.body for r in fake_github.requests if r.operation == "pulls/update"]
    assert patches == [{"title": "Run 42 ✓"}, {"body": "done"}]
    pull = fake_github.pull(opened.number)
    assert (pull.title, pull.body, pull.draft) == ("Run 42 ✓", "done", True)
    assert fake_github.violations == []


async def test_marks_a_draft_ready_through_graphql(
    forge: GitHubForge, fake_github: FakeGitHub
) -> None:
    draft = await forge.open_or_update(head=HEAD, base=BASE, title="Run 42", body="done")

    ready = await forge.mark_ready(draft)
    again = await forge.mark_ready(ready)

    assert ready == PullRequest(
        number=draft.number, url=draft.url, state="open", node_id=draft.node_id
    )
    assert again is ready  # not a draft: no call at all
    assert operations(fake_github) == ["pulls/list", "pulls/create", "graphql"]
    assert fake_github.requests[-1].body["variables"] == {"id": draft.node_id}
    assert fake_github.pull(draft.number).draft is False
    assert fake_github.violations == []


async def test_mark_ready_reads_the_node_id_when_it_is_missing(
    forge: GitHubForge, fake_github: FakeGitHub
) -> None:
    seeded = fake_github.add_pull(head=HEAD, base=BASE, title="t", draft=True)
    bare = PullRequest(number=seeded.number, url="", state="draft")

    ready = await forge.mark_ready(bare)

    assert (ready.state, ready.node_id) == ("open", seeded.node_id)
    assert operations(fake_github) == ["pulls/get", "graphql"]
    assert fake_github.violations == []


async def test_leaves_pull_requests_of_other_branches_alone(
    forge: GitHubForge, fake_github: FakeGitHub
) -> None:
    fake_github.add_pull(head=HEAD, base="release", title="same head, other base")
    fake_github.add_pull(head="cc/run-41", base=BASE, title="other head")

    pr = await forge.open_or_update(head=HEAD, base=BASE, title="Run 42", body="")

    assert pr.number == 3
    assert fake_github.violations == []


async def test_takes_the_pull_request_opened_between_look_up_and_create(
    fake_github: FakeGitHub,
) -> None:
    class OpensOneMeanwhile(httpx.AsyncBaseTransport):
        """Someone else opens the same pull request right after our first look-up."""

        def __init__(self) -> None:
            self.inner = httpx.AsyncHTTPTransport()
            self.done = False

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await self.inner.handle_async_request(request)
            if request.method == "GET" and not self.done:
                self.done = True
                fake_github.add_pull(head=HEAD, base=BASE, title="theirs", draft=True)
            return response

        async def aclose(self) -> None:
            await self.inner.aclose()

    forge = GitHubForge(
        repo=fake_github.repo,
        token=fake_github.token,
        api_url=fake_github.url,
        transport=OpensOneMeanwhile(),
    )
    try:
        pr = await forge.open_or_update(head=HEAD, base=BASE, title="ours", body="")
    finally:
        await forge.aclose()

    assert pr.number == 1
    assert len(fake_github.pulls) == 1
    assert fake_github.pull(1).title == "ours"
    assert operations(fake_github) == ["pulls/list", "pulls/create", "pulls/list", "pulls/update"]
    assert fake_github.violations == []


async def test_a_bad_token_is_a_401_that_never_shows_the_token(fake_github: FakeGitHub) -> None:
    secret = "ghp_wrongButSecret0123456789"
    forge = GitHubForge(repo=fake_github.repo, token=secret, api_url=fake_github.url)
    try:
        with pytest.raises(ForgeError) as caught:
            await forge.open_or_update(head=HEAD, base=BASE, title="t", body="b")
    finally:
        await forge.aclose()

    error = caught.value
    assert (error.status, error.recoverable) == (401, False)
    assert "CC_GITHUB_TOKEN" in str(error)
    assert secret not in str(error) and secret not in repr(error)
    assert fake_github.pulls == []
    assert fake_github.violations == []


async def test_no_commits_between_the_branches_is_a_clear_refusal(
    forge: GitHubForge, fake_github: FakeGitHub
) -> None:
    fake_github.no_commit_heads.add(HEAD)

    with pytest.raises(ForgeError) as caught:
        await forge.open_or_update(head=HEAD, base=BASE, title="t", body="b")

    assert (caught.value.status, caught.value.recoverable) == (422, False)
    assert f"No commits between {BASE} and {HEAD}" in str(caught.value)
    assert fake_github.violations == []


async def test_an_unknown_repository_is_a_404_naming_it(fake_github: FakeGitHub) -> None:
    forge = GitHubForge(repo="octo/missing", token=fake_github.token, api_url=fake_github.url)
    try:
        with pytest.raises(ForgeError) as caught:
            await forge.open_or_update(head=HEAD, base=BASE, title="t", body="b")
    finally:
        await forge.aclose()

    assert caught.value.status == 404
    assert "octo/missing" in str(caught.value)
    assert fake_github.violations == []


async def test_a_closed_pull_request_is_not_reopened_a_new_one_is_opened(
    forge: GitHubForge, fake_github: FakeGitHub
) -> None:
    first = await forge.open_or_update(head=HEAD, base=BASE, title="Run 42", body="")
    fake_github.close_pull(first.number, merged=True)

    second = await forge.open_or_update(head=HEAD, base=BASE, title="Run 42", body="")

    assert (second.number, second.state) == (first.number + 1, "draft")
    assert fake_github.violations == []
