"""GitHub: REST finds, creates and updates pull requests; GraphQL marks a draft ready.

Marking a draft ready for review has no REST endpoint (`PATCH …/pulls/N` takes no `draft`):
it is the GraphQL mutation `markPullRequestReadyForReview`, given the pull request's `node_id`.
"""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import msgspec

from cc_forge.errors import ForgeError
from cc_forge.ports import PullRequest
from cc_forge.settings import GITHUB_API_URL

API_VERSION = "2022-11-28"
USER_AGENT = "commandcenter-forge/0.1"

MARK_READY = """
mutation MarkPullRequestReady($id: ID!) {
  markPullRequestReadyForReview(input: {pullRequestId: $id}) {
    pullRequest { id number url isDraft state }
  }
}
"""

T = TypeVar("T")


class _Pull(msgspec.Struct, kw_only=True):
    """The fields of GitHub's pull request objects (full and simple) that matter here."""

    number: int
    html_url: str
    state: str
    node_id: str = ""
    draft: bool = False
    merged_at: str | None = None
    title: str = ""
    body: str | None = None

    def public(self) -> PullRequest:
        return PullRequest(
            number=self.number,
            url=self.html_url,
            state=_state(state=self.state, draft=self.draft, merged=self.merged_at is not None),
            node_id=self.node_id,
        )


class _ReadyPull(msgspec.Struct, rename="camel"):
    id: str
    number: int
    url: str
    is_draft: bool
    state: str


class _MarkReadyPayload(msgspec.Struct, rename="camel"):
    pull_request: _ReadyPull | None = None


class _MarkReadyData(msgspec.Struct, rename="camel"):
    mark_pull_request_ready_for_review: _MarkReadyPayload | None = None


class _GraphQLError(msgspec.Struct):
    message: str = ""
    type: str = ""


class _MarkReadyAnswer(msgspec.Struct):
    data: _MarkReadyData | None = None
    errors: list[_GraphQLError] = []


def graphql_url_for(api_url: str) -> str:
    """GitHub's GraphQL endpoint beside a REST root: `…/graphql` on github.com, and
    `https://HOST/api/graphql` beside GitHub Enterprise Server's `https://HOST/api/v3`."""
    parts = urlsplit(api_url.rstrip("/"))
    if parts.path.endswith("/api/v3"):
        return urlunsplit(parts._replace(path=parts.path.removesuffix("/v3") + "/graphql"))
    return urlunsplit(parts._replace(path=parts.path + "/graphql"))


class GitHubForge:
    """Pull requests of one GitHub repository, through one pooled HTTP client."""

    name = "github"

    def __init__(
        self,
        *,
        repo: str,
        token: str,
        api_url: str = GITHUB_API_URL,
        graphql_url: str | None = None,
        timeout_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        owner, _, repo_name = repo.partition("/")
        if not owner or not repo_name or "/" in repo_name:
            raise ForgeError(f"a GitHub repository is named owner/name, not {repo!r}")
        token = token.strip()
        if not token or any(ch.isspace() or not ch.isprintable() for ch in token):
            # httpx would refuse such a header with the value in its message.
            raise ForgeError("the GitHub token is empty or contains spaces or control characters")
        self.repo = repo
        self.api_url = api_url.rstrip("/")
        self.graphql_url = graphql_url or graphql_url_for(self.api_url)
        self._owner = owner
        self._pulls_path = f"/repos/{quote(owner, safe='')}/{quote(repo_name, safe='')}/pulls"
        self._token = token
        self._timeout_s = timeout_s
        self._client = httpx.AsyncClient(
            base_url=self.api_url,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": USER_AGENT,
            },
            timeout=timeout_s,
            transport=transport,
        )

    async def open_or_update(self, *, head: str, base: str, title: str, body: str) -> PullRequest:
        existing = await self._find_open(head, base)
        if existing is None:
            try:
                return await self._create(head=head, base=base, title=title, body=body)
            except ForgeError as exc:
                if exc.status != 422 or "already exists" not in exc.message:
                    raise
                # Someone opened it between our look-up and our create: take theirs.
                existing = await self._find_open(head, base)
                if existing is None:
                    raise
        return await self._update(existing, title=title, body=body)

    async def mark_ready(self, pr: PullRequest) -> PullRequest:
        if pr.state != "draft":
            return pr
        node_id = pr.node_id or (await self._get(pr.number)).node_id
        what = f"marking pull request #{pr.number} ready for review"
        answer = await self._send(
            "POST",
            self.graphql_url,
            what=what,
            json={"query": MARK_READY, "variables": {"id": node_id}},
            expect=_MarkReadyAnswer,
        )
        payload = answer.data.mark_pull_request_ready_for_review if answer.data else None
        ready = payload.pull_request if payload else None
        if answer.errors or ready is None:
            messages = "; ".join(e.message for e in answer.errors) or "no pull request returned"
            raise ForgeError(
                self._scrub(f"{what}: GitHub refused it ({messages})"),
                status=200,
                recoverable=any(e.type == "RATE_LIMITED" for e in answer.errors),
            )
        merged = ready.state == "MERGED"
        state = _state(state=ready.state.lower(), draft=ready.is_draft, merged=merged)
        return PullRequest(number=ready.number, url=ready.url, state=state, node_id=ready.id)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _find_open(self, head: str, base: str) -> _Pull | None:
        # `head` must be `owner:branch`: GitHub ignores a bare branch name and lists every PR.
        qualified = head if ":" in head else f"{self._owner}:{head}"
        pulls = await self._send(
            "GET",
            self._pulls_path,
            what=f"looking for an open pull request from {head} into {base}",
            params={"head": qualified, "base": base, "state": "open"},
            expect=list[_Pull],
        )
        return pulls[0] if pulls else None

    async def _create(self, *, head: str, base: str, title: str, body: str) -> PullRequest:
        created = await self._send(
            "POST",
            self._pulls_path,
            what=f"opening a draft pull request from {head} into {base}",
            json={"title": title, "head": head, "base": base, "body": body, "draft": True},
            expect=_Pull,
        )
        return created.public()

    async def _update(self, existing: _Pull, *, title: str, body: str) -> PullRequest:
        changes = {}
        if existing.title != title:
            changes["title"] = title
        if (existing.body or "") != body:
            changes["body"] = body
        if not changes:
            return existing.public()
        updated = await self._send(
            "PATCH",
            f"{self._pulls_path}/{existing.number}",
            what=f"updating pull request #{existing.number}",
            json=changes,
            expect=_Pull,
        )
        return updated.public()

    async def _get(self, number: int) -> _Pull:
        return await self._send(
            "GET",
            f"{self._pulls_path}/{number}",
            what=f"reading pull request #{number}",
            expect=_Pull,
        )

    async def _send(
        self,
        method: str,
        url: str,
        *,
        what: str,
        expect: type[T],
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
    ) -> T:
        try:
            response = await self._client.request(method, url, params=params, json=json)
        except httpx.TimeoutException as exc:
            raise ForgeError(
                f"{what}: GitHub did not answer within {self._timeout_s:g} s", recoverable=True
            ) from exc
        except httpx.TransportError as exc:
            host = urlsplit(self.api_url).netloc
            raise ForgeError(
                self._scrub(f"{what}: cannot reach {host} ({type(exc).__name__}: {exc})"),
                recoverable=True,
            ) from exc
        if not response.is_success:
            raise self._http_error(response, what)
        try:
            return msgspec.json.decode(response.content, type=expect)
        except msgspec.DecodeError as exc:
            raise ForgeError(
                self._scrub(f"{what}: unexpected answer from GitHub ({exc})"),
                status=response.status_code,
            ) from exc

    def _http_error(self, response: httpx.Response, what: str) -> ForgeError:
        status = response.status_code
        detail = f"{status} {_detail(response)}".rstrip()
        rate_limited = status == 429 or (
            status == 403
            and (
                response.headers.get("x-ratelimit-remaining") == "0"
                or "retry-after" in response.headers
            )
        )
        if status == 401:
            message = f"{what}: GitHub rejected the token ({detail}); check CC_GITHUB_TOKEN"
        elif rate_limited:
            message = f"{what}: rate limited by GitHub ({detail}); try again later"
        elif status == 403:
            message = (
                f"{what}: the token may not do this ({detail}); it needs write access to the "
                f"pull requests of {self.repo}"
            )
        elif status == 404:
            message = (
                f"{what}: not found ({detail}); {self.repo} does not exist on {self.api_url} "
                "or the token cannot see it"
            )
        elif status == 422:
            message = f"{what}: GitHub refused it ({detail})"
        else:
            message = f"{what}: GitHub answered {detail}"
        return ForgeError(
            self._scrub(message), status=status, recoverable=rate_limited or status >= 500
        )

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***")


def _state(*, state: str, draft: bool, merged: bool) -> str:
    if merged:
        return "merged"
    if state == "closed":
        return "closed"
    return "draft" if draft else "open"


class _ErrorItem(msgspec.Struct):
    message: str | None = None
    code: str | None = None
    field: str | None = None
    resource: str | None = None


class _ErrorBody(msgspec.Struct):
    message: str = ""
    errors: list[_ErrorItem | str] = []


def _detail(response: httpx.Response) -> str:
    """GitHub's own words: `message` plus each of `errors` (where 422s say what was wrong)."""
    try:
        body = msgspec.json.decode(response.content, type=_ErrorBody)
    except msgspec.DecodeError:
        return response.text[:200].strip()
    items = [
        item
        if isinstance(item, str)
        else item.message or " ".join(p for p in (item.resource, item.field, item.code) if p)
        for item in body.errors
    ]
    return ": ".join(part for part in (body.message, "; ".join(i for i in items if i)) if part)
