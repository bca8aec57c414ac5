"""What needs no server: remote URLs, settings, choosing the forge, the GraphQL endpoint, and how
HTTP failures become ForgeErrors (httpx.MockTransport)."""

from __future__ import annotations

import httpx
import pytest
from cc_forge import ForgeError, ForgeSettings, GitHubForge, github_repo_from_url, open_forge
from cc_forge.github import graphql_url_for


@pytest.mark.parametrize(
    ("url", "repo"),
    [
        ("https://github.com/octo/widgets.git", "octo/widgets"),
        ("https://github.com/octo/widgets", "octo/widgets"),
        ("https://x-access-token:ghs_abc@github.com/octo/widgets.git", "octo/widgets"),
        ("git@github.com:octo/widgets.git", "octo/widgets"),
        ("git@github.com:octo/widgets", "octo/widgets"),
        ("ssh://git@github.com/octo/widgets", "octo/widgets"),
        ("ssh://git@github.com:22/octo/widgets.git", "octo/widgets"),
        ("https://GitHub.com/octo/widgets/", "octo/widgets"),
        ("https://gitlab.com/octo/widgets.git", None),
        ("git@gitlab.com:octo/widgets.git", None),
        ("https://github.com/octo", None),
        ("https://github.com/octo/widgets/tree/main", None),
        ("/srv/git/widgets.git", None),
        ("file:///srv/git/widgets.git", None),
        ("", None),
    ],
)
def test_repo_from_remote_url(url: str, repo: str | None) -> None:
    assert github_repo_from_url(url) == repo


def test_settings_from_env() -> None:
    assert ForgeSettings.from_env({}) == ForgeSettings(
        kind="github", repo=None, token=None, api_url="https://api.github.com"
    )
    settings = ForgeSettings.from_env(
        {
            "CC_FORGE": " GitHub ",
            "CC_FORGE_REPO": "octo/widgets",
            "CC_GITHUB_TOKEN": "ghp_ours",
            "GITHUB_TOKEN": "ghp_theirs",
            "CC_GITHUB_API_URL": "https://ghe.example.com/api/v3/",
        }
    )
    assert settings == ForgeSettings(
        kind="github",
        repo="octo/widgets",
        token="ghp_ours",
        api_url="https://ghe.example.com/api/v3",
    )
    assert ForgeSettings.from_env({"GITHUB_TOKEN": "ghp_theirs"}).token == "ghp_theirs"
    assert ForgeSettings.from_env({"CC_GITHUB_TOKEN": " ", "GITHUB_TOKEN": "t"}).token == "t"


def test_settings_repr_hides_the_token() -> None:
    settings = ForgeSettings.from_env({"CC_GITHUB_TOKEN": "ghp_secret123"})
    assert "ghp_secret123" not in repr(settings)
    assert "ghp_secret123" not in str(settings)


async def test_open_forge_picks_the_repository() -> None:
    settings = ForgeSettings(token="t")
    forge = open_forge(settings, remote_url="git@github.com:octo/widgets.git")
    assert isinstance(forge, GitHubForge)
    assert (forge.name, forge.repo) == ("github", "octo/widgets")
    await forge.aclose()

    pinned = open_forge(
        ForgeSettings(token="t", repo="octo/other"), remote_url="/srv/git/widgets.git"
    )
    assert isinstance(pinned, GitHubForge) and pinned.repo == "octo/other"
    await pinned.aclose()


@pytest.mark.parametrize(
    ("settings", "remote", "says"),
    [
        (ForgeSettings(repo="o/r"), None, "CC_GITHUB_TOKEN"),
        (ForgeSettings(kind="gitlab", token="t"), None, "unknown forge 'gitlab'"),
        (ForgeSettings(token="t"), "/srv/git/widgets.git", "CC_FORGE_REPO"),
        (ForgeSettings(token="t"), None, "CC_FORGE_REPO"),
        (ForgeSettings(token="t", repo="widgets"), None, "owner/name"),
    ],
)
def test_open_forge_refuses_with_a_reason(
    settings: ForgeSettings, remote: str | None, says: str
) -> None:
    with pytest.raises(ForgeError, match=says):
        open_forge(settings, remote_url=remote)


def test_open_forge_never_echoes_credentials_of_the_remote() -> None:
    with pytest.raises(ForgeError) as caught:
        open_forge(ForgeSettings(token="t"), remote_url="https://bot:s3cret@gitlab.com/o/r.git")
    assert "s3cret" not in str(caught.value)
    assert "gitlab.com/o/r.git" in str(caught.value)


@pytest.mark.parametrize(
    ("api_url", "graphql_url"),
    [
        ("https://api.github.com", "https://api.github.com/graphql"),
        ("https://ghe.example.com/api/v3", "https://ghe.example.com/api/graphql"),
        ("https://ghe.example.com/api/v3/", "https://ghe.example.com/api/graphql"),
        ("http://127.0.0.1:8123", "http://127.0.0.1:8123/graphql"),
    ],
)
def test_graphql_endpoint_beside_the_rest_root(api_url: str, graphql_url: str) -> None:
    assert graphql_url_for(api_url) == graphql_url


def test_a_token_that_would_break_the_header_is_refused_without_showing_it() -> None:
    with pytest.raises(ForgeError) as caught:
        GitHubForge(repo="o/r", token="ghp_abc\nX-Evil: 1")
    assert "ghp_abc" not in str(caught.value)


def forge_answering(answer: httpx.Response | Exception) -> GitHubForge:
    def handler(_request: httpx.Request) -> httpx.Response:
        if isinstance(answer, Exception):
            raise answer
        return answer

    return GitHubForge(repo="o/r", token="ghp_tok", transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("answer", "status", "recoverable"),
    [
        (httpx.ConnectError("Connection refused"), None, True),
        (httpx.ReadTimeout("timed out"), None, True),
        (httpx.Response(503, json={"message": "Service Unavailable"}), 503, True),
        (httpx.Response(429, json={"message": "slow down"}), 429, True),
        (
            httpx.Response(
                403, headers={"x-ratelimit-remaining": "0"}, json={"message": "rate limit"}
            ),
            403,
            True,
        ),
        (httpx.Response(403, json={"message": "Resource not accessible"}), 403, False),
        (httpx.Response(200, text="<html>proxy</html>"), 200, False),
    ],
)
async def test_failures_say_whether_to_retry(
    answer: httpx.Response | Exception, status: int | None, recoverable: bool
) -> None:
    forge = forge_answering(answer)
    try:
        with pytest.raises(ForgeError) as caught:
            await forge.open_or_update(head="h", base="main", title="t", body="b")
    finally:
        await forge.aclose()
    assert (caught.value.status, caught.value.recoverable) == (status, recoverable)
    assert "ghp_tok" not in str(caught.value)


async def test_a_422_carries_githubs_own_words() -> None:
    forge = forge_answering(
        httpx.Response(
            422,
            json={
                "message": "Validation Failed",
                "errors": [{"resource": "PullRequest", "field": "base", "code": "invalid"}],
                "documentation_url": "https://docs.github.com/rest",
            },
        )
    )
    try:
        with pytest.raises(ForgeError) as caught:
            await forge.open_or_update(head="h", base="nope", title="t", body="b")
    finally:
        await forge.aclose()
    assert "422 Validation Failed: PullRequest base invalid" in str(caught.value)
