"""A fake GitHub per test (its own server on a free port) and a GitHubForge pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from cc_forge import GitHubForge

from tests.support.fake_github import FakeGitHub


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    with FakeGitHub(token="ghp_forgeTestToken0123456789", repo="octo/widgets") as fake:
        yield fake


@pytest.fixture
async def forge(fake_github: FakeGitHub) -> AsyncIterator[GitHubForge]:
    forge = GitHubForge(repo=fake_github.repo, token=fake_github.token, api_url=fake_github.url)
    yield forge
    await forge.aclose()
