"""The fake GitHub itself: it refuses and records what GitHub's description does not allow, and
its own answers are held to the same description."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.support.fake_github import FakeGitHub, github_description

pytestmark = pytest.mark.integration

TOKEN = "ghp_fakeSelfTest0123456789"
PULLS = "/repos/octo/widgets/pulls"


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub(token=TOKEN, repo="octo/widgets") as fake:
        yield fake


@pytest.fixture
def client(fake: FakeGitHub) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.url, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield c


def test_an_invalid_body_is_refused_and_recorded(fake: FakeGitHub, client: httpx.Client) -> None:
    answer = client.post(PULLS, json={"title": "t", "head": "h", "base": "main", "draft": "yes"})

    assert answer.status_code == 422
    assert "'yes' is not of type 'boolean'" in answer.json()["message"]
    [violation] = fake.violations
    assert (violation.method, violation.path) == ("POST", PULLS)
    assert "pulls/create" in violation.problem and "at draft" in violation.problem
    assert fake.pulls == []


@pytest.mark.parametrize(
    ("method", "path", "params", "body", "status", "problem"),
    [
        ("POST", PULLS, {}, {"head": "h", "base": "main", "drafts": True}, 422, "'drafts'"),
        ("GET", PULLS, {"state": "bogus"}, None, 422, "'bogus' is not one of"),
        ("GET", PULLS, {"heads": "octo:h"}, None, 422, "['heads']"),
        ("PATCH", f"{PULLS}/x", {}, {"title": "t"}, 422, "pull_number"),
        ("GET", "/repos/octo/widgets/pullz", {}, None, 404, "no operation"),
        ("DELETE", PULLS, {}, None, 404, "no operation"),
        ("GET", "/repos/octo/widgets/issues", {}, None, 404, "does not serve"),
    ],
)
def test_what_the_description_does_not_allow_is_a_violation(
    fake: FakeGitHub,
    client: httpx.Client,
    method: str,
    path: str,
    params: dict[str, str],
    body: object,
    status: int,
    problem: str,
) -> None:
    answer = client.request(method, path, params=params, json=body)

    assert answer.status_code == status
    [violation] = fake.violations
    assert problem in violation.problem


def test_unparsable_json_is_a_400(fake: FakeGitHub, client: httpx.Client) -> None:
    answer = client.post(PULLS, content=b"{nope", headers={"Content-Type": "application/json"})

    assert (answer.status_code, answer.json()["message"]) == (400, "Problems parsing JSON")
    assert len(fake.violations) == 1


def test_a_missing_or_wrong_token_is_a_401_not_a_violation(fake: FakeGitHub) -> None:
    with httpx.Client(base_url=fake.url) as anonymous:
        assert anonymous.get(PULLS).status_code == 401
        wrong = anonymous.get(PULLS, headers={"Authorization": "Bearer nope"})
        assert (wrong.status_code, wrong.json()["message"]) == (401, "Bad credentials")
        assert anonymous.get(PULLS, headers={"Authorization": f"token {TOKEN}"}).status_code == 401
    assert fake.violations == []
    assert all("authorization" not in r.headers for r in fake.requests)


def test_a_head_without_owner_lists_every_pull_request_like_github(
    fake: FakeGitHub, client: httpx.Client
) -> None:
    fake.add_pull(head="a", base="main", title="a")
    fake.add_pull(head="b", base="main", title="b")

    bare = client.get(PULLS, params={"head": "a"}).json()
    qualified = client.get(PULLS, params={"head": "octo:a"}).json()

    assert [p["head"]["ref"] for p in bare] == ["b", "a"]
    assert [p["head"]["ref"] for p in qualified] == ["a"]
    assert fake.violations == []


def test_answers_are_the_descriptions_examples_made_into_this_pull_request(
    fake: FakeGitHub, client: httpx.Client
) -> None:
    created = client.post(PULLS, json={"title": "t", "head": "h", "base": "main", "draft": True})

    assert created.status_code == 201
    pull = created.json()
    assert (pull["number"], pull["draft"], pull["state"]) == (1, True, "open")
    assert (pull["head"]["ref"], pull["head"]["label"], pull["base"]["ref"]) == (
        "h",
        "octo:h",
        "main",
    )
    assert pull["html_url"] == "https://github.com/octo/widgets/pull/1"
    assert pull["_links"]["html"]["href"] == "https://github.com/octo/widgets/pull/1"
    assert pull["base"]["repo"]["full_name"] == "octo/widgets"
    example = github_description().example("pulls/get", 200)
    assert set(pull) == set(example)
    assert fake.violations == []


def test_the_fake_holds_its_own_answers_to_the_description(fake: FakeGitHub) -> None:
    example = github_description().example("pulls/get", 200)
    example["requested_teams"] = []  # GitHub's own example lacks a field its schema requires

    assert fake.check_response("pulls/get", 200, example) is None
    lie = fake.check_response("pulls/get", 200, example | {"number": "1"})
    assert lie is not None and "at number" in lie
    assert fake.check_response("pulls/get", 418, {}) is not None
    assert fake.check_response("pulls/update", 404, {"message": "Not Found"}) is None


def test_graphql_documents_are_checked_against_githubs_schema(
    fake: FakeGitHub, client: httpx.Client
) -> None:
    pull = fake.add_pull(head="h", base="main", title="t", draft=True)
    mutation = """mutation($id: ID!) { markPullRequestReadyForReview(input: {%s: $id}) {
        pullRequest { id isDraft } } }"""

    misspelt = client.post("/graphql", json={"query": mutation % "pullRequestID", "variables": {}})
    unserved = client.post("/graphql", json={"query": "{ viewer { login } }"})
    unknown = client.post(
        "/graphql", json={"query": mutation % "pullRequestId", "variables": {"id": "PR_nope"}}
    )
    ready = client.post(
        "/graphql", json={"query": mutation % "pullRequestId", "variables": {"id": pull.node_id}}
    )

    assert (misspelt.status_code, unserved.status_code) == (400, 400)
    assert unknown.status_code == 200 and unknown.json()["errors"][0]["type"] == "NOT_FOUND"
    assert ready.json() == {
        "data": {
            "markPullRequestReadyForReview": {"pullRequest": {"id": pull.node_id, "isDraft": False}}
        }
    }
    assert [v.problem.split(":")[0] for v in fake.violations] == [
        "GraphQL",
        "GraphQL fields the fake does not serve",
    ]
    assert "Did you mean 'pullRequestId'?" in fake.violations[0].problem


def test_another_process_can_use_it(fake: FakeGitHub) -> None:
    script = """
import json, sys, urllib.request
request = urllib.request.Request(
    sys.argv[1] + "/repos/octo/widgets/pulls",
    data=json.dumps({"title": "t", "head": "h", "base": "main", "draft": True}).encode(),
    headers={"Authorization": "Bearer " + sys.argv[2], "Content-Type": "application/json"},
)
print(json.load(urllib.request.urlopen(request))["number"])
"""
    done = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-c", script, fake.url, TOKEN],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )

    assert json.loads(done.stdout) == 1
    assert fake.pull(1).draft is True
    assert fake.violations == []


def test_the_description_is_loaded_once_per_process() -> None:
    assert github_description() is github_description()
    assert github_description().load_seconds > 0
