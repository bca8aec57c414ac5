"""A fake GitHub that checks itself against GitHub's own description (tests only).

`FakeGitHub` is a real HTTP server on 127.0.0.1 (a free port, a background thread): tests in this
process and processes they start (`CC_GITHUB_API_URL=fake.url`) talk to it over TCP.

- Every REST request is checked against the operation that GitHub's OpenAPI description (npm
  `@octokit/openapi`, installed by `make tools`) gives for its method and path: path and query
  parameters and the JSON body. Fields and query parameters the description does not name are
  refused too: GitHub silently ignores them, so a misspelt `draft` would pass unnoticed there.
- Every JSON answer is built from the description's example for that operation (the fields that
  matter overridden) and checked against the operation's response schema before it is sent.
- `POST /graphql` documents are validated against GitHub's GraphQL schema (npm
  `@octokit/graphql-schema`) and executed by graphql-core; `markPullRequestReadyForReview` is the
  one mutation served.

A request the description does not allow is answered 4xx and recorded in `violations`; an answer
of the fake's own that the description does not allow is answered 500 and recorded as well. Tests
assert `fake.violations == []`.

openapi-core does the checking: it implements OpenAPI itself (path templates, parameter styles
and coercion, 3.0's `nullable`, 3.1's JSON Schema dialect, response lookup by status) on top of
jsonschema, so the fake does not hand-roll half of it; GitHub's document is OpenAPI 3.0.3. The
description is loaded and indexed once per process (`github_description()`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import msgspec
from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    build_schema,
    execute_sync,
    parse,
    validate,
)
from openapi_core import Config, OpenAPI
from openapi_core.deserializing.media_types.exceptions import MediaTypeDeserializeError
from openapi_core.exceptions import OpenAPIError
from openapi_core.templating.paths.exceptions import PathError
from openapi_core.templating.paths.finders import APICallPathFinder
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.validation.schemas import oas30_read_schema_validators_factory

OCTOKIT = Path(__file__).resolve().parents[2] / "tools" / "node_modules" / "@octokit"
OPENAPI_FILE = OCTOKIT / "openapi" / "generated" / "api.github.com.json"
GRAPHQL_FILE = OCTOKIT / "graphql-schema" / "schema.graphql"

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
FALLBACK_RESPONSES = {
    400: "bad_request",
    401: "requires_authentication",
    403: "forbidden",
    404: "not_found",
    422: "validation_failed",
}
"""GitHub's shared answers for statuses an operation does not list (a 401 is never listed)."""
DOCS = "https://docs.github.com/rest"


# --- GitHub's description, loaded once per process ---------------------------------------------


@dataclass(frozen=True)
class Operation:
    id: str
    method: str
    template: str
    spec: dict[str, Any]
    parameters: tuple[dict[str, Any], ...]
    """Path-level and operation-level parameters, `$ref`s resolved."""


@dataclass(frozen=True)
class GitHubDescription:
    document: dict[str, Any]
    server_url: str
    operations: dict[str, Operation]
    """By `operationId`."""
    by_route: dict[tuple[str, str], Operation]
    """By (method, path template)."""
    requests: OpenAPI
    """Checks requests; body fields the description does not name are refused."""
    responses: OpenAPI
    finder: APICallPathFinder
    graphql: GraphQLSchema
    load_seconds: float

    def resolve(self, node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            target: Any = self.document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    def example(self, operation_id: str, status: int) -> Any:
        """The description's own example answer of an operation (a deep copy)."""
        answer = self.resolve(self.operations[operation_id].spec["responses"][str(status)])
        example = self.resolve(answer["content"]["application/json"]["examples"]["default"])
        return copy.deepcopy(example["value"])


_LOAD_LOCK = threading.Lock()
_CHECK_LOCK = threading.Lock()
"""openapi-core and graphql-core are not documented as thread-safe; every fake shares them."""
_description: GitHubDescription | None = None


def github_description() -> GitHubDescription:
    global _description
    with _LOAD_LOCK:
        if _description is None:
            _description = _load_description()
        return _description


def _load_description() -> GitHubDescription:
    for needed in (OPENAPI_FILE, GRAPHQL_FILE):
        if not needed.is_file():
            raise RuntimeError(f"{needed} is missing: run `make tools` (npm ci in tools/)")
    started = time.perf_counter()
    document: dict[str, Any] = msgspec.json.decode(OPENAPI_FILE.read_bytes())
    by_route: dict[tuple[str, str], Operation] = {}
    operations: dict[str, Operation] = {}
    # openapi-core's check of the document itself takes ~12 s on these 13 MB; GitHub publishes
    # it checked, so it is skipped.
    requests = OpenAPI.from_dict(
        document,
        config=Config(spec_validator_cls=None, additional_properties_default_policy="forbid"),
    )
    description = GitHubDescription(
        document=document,
        server_url=document["servers"][0]["url"],
        operations=operations,
        by_route=by_route,
        requests=requests,
        responses=OpenAPI.from_dict(document, config=Config(spec_validator_cls=None)),
        finder=APICallPathFinder(requests.spec),
        # GitHub's published SDL breaks two rules graphql-core >= 3.3 enforces (a field defined
        # twice on EnterpriseOwnerInfo, deprecated implementations of non-deprecated interface
        # fields); neither matters for validating and executing operations.
        graphql=build_schema(GRAPHQL_FILE.read_text(), assume_valid_sdl=True, assume_valid=True),
        load_seconds=0.0,
    )
    for template, item in document["paths"].items():
        shared = [description.resolve(p) for p in item.get("parameters", [])]
        for method in METHODS:
            if method in item:
                spec = item[method]
                own = [description.resolve(p) for p in spec.get("parameters", [])]
                op = Operation(spec["operationId"], method, template, spec, (*shared, *own))
                by_route[(method, template)] = op
                operations[op.id] = op
    return replace(description, load_seconds=time.perf_counter() - started)


# --- what the fake records and keeps ----------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    """The decoded JSON; the text when it is not JSON; None when empty."""
    operation: str | None
    """GitHub's `operationId` (`pulls/create`), `graphql`, or None for an unknown route."""
    headers: dict[str, str]
    """Lower-case names; `authorization` is left out."""


@dataclass(frozen=True)
class Violation:
    method: str
    path: str
    problem: str


@dataclass
class FakePull:
    number: int
    node_id: str
    head: str
    base: str
    title: str
    body: str | None
    draft: bool
    state: str = "open"
    """`open` or `closed`."""
    merged: bool = False
    created_at: str = field(default_factory=lambda: _now())


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Refusal(Exception):
    """An answer other than success, with GitHub's body for it."""

    def __init__(self, status: int, payload: dict[str, Any], *, violation: str | None = None):
        super().__init__(payload.get("message", ""))
        self.status = status
        self.payload = payload
        self.violation = violation


def _validation_failed(message: str) -> _Refusal:
    errors = [{"resource": "PullRequest", "code": "custom", "message": message}]
    return _Refusal(
        422, {"message": "Validation Failed", "errors": errors, "documentation_url": DOCS}
    )


Answer = tuple[int, Any]
Handler = Callable[["FakeGitHub", dict[str, str], dict[str, list[str]], Any], Answer]


# --- the server --------------------------------------------------------------------------------


class FakeGitHub:
    """One repository's pull requests behind GitHub's REST and GraphQL APIs.

    with FakeGitHub(token="t", repo="octo/widgets") as fake:
        forge = GitHubForge(repo="octo/widgets", token="t", api_url=fake.url)
        ...
        assert fake.violations == []
    """

    def __init__(self, *, token: str = "fake-github-token", repo: str = "octo/widgets") -> None:
        self.token = token
        self.repo = repo
        self.owner, _, self.repo_name = repo.partition("/")
        self.no_commit_heads: set[str] = set()
        """Head branches that have no commits on their base: creating a PR from one is a 422."""
        self._lock = threading.Lock()
        self._pulls: dict[int, FakePull] = {}
        self._requests: list[RecordedRequest] = []
        self._violations: list[Violation] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> FakeGitHub:
        github_description()  # load before the first request, not during it
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        # A short poll so that stop() (which waits for the loop to notice) takes ~10 ms, not 0.5 s.
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.01,), name="fake-github", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The REST root, as `CC_GITHUB_API_URL` (GraphQL is at `url + "/graphql"`)."""
        assert self._server is not None, "FakeGitHub not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    # what tests look at

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def violations(self) -> list[Violation]:
        with self._lock:
            return list(self._violations)

    @property
    def pulls(self) -> list[FakePull]:
        with self._lock:
            return [replace(p) for p in self._pulls.values()]

    def pull(self, number: int) -> FakePull:
        with self._lock:
            return replace(self._pulls[number])

    def add_pull(
        self, *, head: str, base: str, title: str = "", body: str = "", draft: bool = False
    ) -> FakePull:
        """A pull request someone else opened (the fake's state, no request involved)."""
        with self._lock:
            return replace(self._new_pull(head, base, title, body, draft))

    def close_pull(self, number: int, *, merged: bool = False) -> FakePull:
        """Closes (or merges) a pull request, as a person on GitHub would."""
        with self._lock:
            pull = self._pulls[number]
            pull.state, pull.merged = "closed", merged
            return replace(pull)

    def check_response(self, operation_id: str, status: int, payload: Any) -> str | None:
        """What is wrong with `payload` as `operation_id`'s answer with `status`, or None."""
        return _response_problem(github_description(), operation_id, status, payload)

    # one request

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], raw_body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        desc = github_description()
        parts = urlsplit(target)
        path, query = parts.path, parse_qs(parts.query, keep_blank_values=True)
        body = _decode_body(raw_body)
        lower = {k.lower(): v for k, v in headers.items()}
        operation: Operation | None = None
        path_params: dict[str, str] = {}
        if path == "/graphql" and method == "POST":
            operation_name: str | None = "graphql"
        else:
            with _CHECK_LOCK:
                try:
                    found = desc.finder.find(method.lower(), desc.server_url + path)
                    operation = desc.by_route[(method.lower(), found.path.parts[1])]
                    path_params = {k: unquote(v) for k, v in found.path_result.variables.items()}
                except PathError:
                    pass
            operation_name = operation.id if operation else None
        recorded = {k: v for k, v in lower.items() if k != "authorization"}
        with self._lock:
            self._requests.append(
                RecordedRequest(method, path, query, body, operation_name, recorded)
            )
        try:
            if lower.get("authorization") != f"Bearer {self.token}":
                raise _Refusal(401, {"message": "Bad credentials", "documentation_url": DOCS})
            if operation_name == "graphql":
                status, payload = self._graphql(body)
            elif operation is None:
                raise _Refusal(
                    404,
                    {"message": "Not Found", "documentation_url": DOCS},
                    violation=f"no operation in GitHub's description for {method} {path}",
                )
            else:
                self._check_request(desc, operation, method, path, query, lower, raw_body)
                status, payload = self._serve(operation, path_params, query, body)
        except _Refusal as refusal:
            if refusal.violation:
                self._violate(method, path, refusal.violation)
            status, payload = refusal.status, refusal.payload
        if operation_name != "graphql":
            problem = _response_problem(desc, operation.id if operation else None, status, payload)
            if problem:
                self._violate(method, path, f"the fake's own {status} answer: {problem}")
                status, payload = 500, {"message": f"fake GitHub answered wrongly: {problem}"}
        data = json.dumps(payload).encode()
        return status, {"Content-Type": "application/json; charset=utf-8"}, data

    def _violate(self, method: str, path: str, problem: str) -> None:
        with self._lock:
            self._violations.append(Violation(method, path, problem))

    def _check_request(
        self,
        desc: GitHubDescription,
        operation: Operation,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        raw_body: bytes,
    ) -> None:
        declared = {p["name"] for p in operation.parameters if p["in"] == "query"}
        unknown = sorted(set(query) - declared)
        if unknown:
            message = f"Invalid request.\n\nUnknown query parameters {unknown}."
            raise _Refusal(
                422,
                {"message": message, "documentation_url": DOCS},
                violation=f"{operation.id}: query parameters not in the description: {unknown}",
            )
        content_type = headers.get("content-type", "application/json").split(";")[0].strip()
        request = MockRequest(
            desc.server_url,
            method,
            path,
            args=query,
            headers=headers,
            data=raw_body,
            content_type=content_type,
        )
        with _CHECK_LOCK:
            try:
                desc.requests.validate_request(request)
            except OpenAPIError as exc:
                problem = _describe(exc)
                unparsable = any(isinstance(e, MediaTypeDeserializeError) for e in _chain(exc))
            else:
                return
        status = 400 if unparsable else 422
        message = "Problems parsing JSON" if status == 400 else f"Invalid request.\n\n{problem}"
        raise _Refusal(
            status,
            {"message": message, "documentation_url": DOCS},
            violation=f"{operation.id}: {problem}",
        )

    def _serve(
        self,
        operation: Operation,
        params: dict[str, str],
        query: dict[str, list[str]],
        body: Any,
    ) -> Answer:
        if (params.get("owner"), params.get("repo")) != (self.owner, self.repo_name):
            raise _Refusal(404, {"message": "Not Found", "documentation_url": DOCS})
        handler = _HANDLERS.get(operation.id)
        if handler is None:
            raise _Refusal(
                404,
                {"message": "Not Found", "documentation_url": DOCS},
                violation=f"{operation.id} is valid but the fake does not serve it",
            )
        with self._lock:
            return handler(self, params, query, body)

    # REST operations (called with self._lock held)

    def _pulls_list(
        self, _params: dict[str, str], query: dict[str, list[str]], _body: Any
    ) -> Answer:
        def one(name: str, default: str | None = None) -> str | None:
            return query.get(name, [default])[-1]

        state, head, base = one("state", "open"), one("head"), one("base")
        pulls = sorted(self._pulls.values(), key=lambda p: p.number, reverse=True)
        if state != "all":
            pulls = [p for p in pulls if p.state == state]
        # GitHub ignores a `head` without `owner:`; a client relying on it gets every PR back.
        if head and ":" in head:
            owner, _, ref = head.partition(":")
            pulls = [p for p in pulls if owner == self.owner and p.head == ref]
        if base:
            pulls = [p for p in pulls if p.base == base]
        per_page, page = int(one("per_page", "30") or 30), int(one("page", "1") or 1)
        pulls = pulls[(page - 1) * per_page : page * per_page]
        template = github_description().example("pulls/list", 200)[0]
        return 200, [self._pull_json(p, template) for p in pulls]

    def _pulls_create(
        self, _params: dict[str, str], _query: dict[str, list[str]], body: Any
    ) -> Answer:
        head_owner, _sep, head = str(body["head"]).rpartition(":")
        base = str(body["base"])
        if head_owner and head_owner != self.owner:
            raise _validation_failed(f"head {body['head']!r}: forks are not served by the fake")
        if "title" not in body and "issue" not in body:
            raise _validation_failed("title is missing")
        if head == base or head in self.no_commit_heads:
            raise _validation_failed(f"No commits between {base} and {head}")
        if any(
            p.state == "open" and (p.head, p.base) == (head, base) for p in self._pulls.values()
        ):
            raise _validation_failed(f"A pull request already exists for {self.owner}:{head}.")
        pull = self._new_pull(
            head, base, body.get("title", ""), body.get("body"), bool(body.get("draft"))
        )
        return 201, self._full_json(pull)

    def _pulls_get(
        self, params: dict[str, str], _query: dict[str, list[str]], _body: Any
    ) -> Answer:
        return 200, self._full_json(self._existing(params))

    def _pulls_update(
        self, params: dict[str, str], _query: dict[str, list[str]], body: Any
    ) -> Answer:
        pull = self._existing(params)
        for name in ("title", "body", "state", "base"):
            if name in (body or {}):
                setattr(pull, name, body[name])
        return 200, self._full_json(pull)

    def _existing(self, params: dict[str, str]) -> FakePull:
        pull = self._pulls.get(int(params["pull_number"]))
        if pull is None:
            raise _Refusal(404, {"message": "Not Found", "documentation_url": DOCS})
        return pull

    def _new_pull(
        self, head: str, base: str, title: str, body: str | None, draft: bool
    ) -> FakePull:
        number = max(self._pulls, default=0) + 1
        node_id = "PR_kwDOFake" + hashlib.sha1(f"{self.repo}#{number}".encode()).hexdigest()[:12]
        pull = FakePull(number, node_id, head, base, title, body, draft)
        self._pulls[number] = pull
        return pull

    def _full_json(self, pull: FakePull) -> dict[str, Any]:
        return self._pull_json(pull, github_description().example("pulls/get", 200))

    def _pull_json(self, pull: FakePull, template: dict[str, Any]) -> dict[str, Any]:
        """The description's example pull request, made into this one: its repository, number,
        branches, title, body and state; the example's other fields stay as they are."""
        example_repo, example_number = template["base"]["repo"]["full_name"], template["number"]
        text = json.dumps(template).replace(example_repo, self.repo)
        for kind in ("pulls", "pull", "issues"):
            text = text.replace(f"/{kind}/{example_number}", f"/{kind}/{pull.number}")
        data: dict[str, Any] = json.loads(text)
        closed = pull.state == "closed"
        now = _now()
        data.update(
            id=pull.number,
            number=pull.number,
            node_id=pull.node_id,
            html_url=f"https://github.com/{self.repo}/pull/{pull.number}",
            state=pull.state,
            draft=pull.draft,
            title=pull.title,
            body=pull.body,
            locked=False,
            created_at=pull.created_at,
            updated_at=now,
            closed_at=now if closed else None,
            merged_at=now if pull.merged else None,
        )
        # A fresh pull request: nobody assigned, asked or labelled (the example's requested team
        # also lacks a field its own schema requires).
        for name in ("assignees", "requested_reviewers", "requested_teams", "labels"):
            data[name] = []
        for name in ("assignee", "milestone", "auto_merge", "active_lock_reason", "merged_by"):
            if name in data:
                data[name] = None
        if "merged" in data:
            data["merged"] = pull.merged
        for side, ref in (("head", pull.head), ("base", pull.base)):
            branch = data[side]
            branch.update(label=f"{self.owner}:{ref}", ref=ref, sha=_sha(ref))
            branch["user"]["login"] = self.owner
            branch["repo"].update(name=self.repo_name, full_name=self.repo)
            branch["repo"]["owner"]["login"] = self.owner
        return data

    # GraphQL

    def _graphql(self, body: Any) -> Answer:
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            raise _Refusal(
                400,
                {"message": "A query attribute must be specified and must be a string."},
                violation="GraphQL request without a query string",
            )
        variables = body.get("variables") or {}
        schema = github_description().graphql

        def refuse(errors: list[GraphQLError]) -> _Refusal:
            return _Refusal(
                400,
                {"errors": [e.formatted for e in errors]},
                violation="GraphQL: " + "; ".join(e.message for e in errors),
            )

        try:
            document = parse(body["query"])
        except GraphQLError as exc:
            raise refuse([exc]) from None
        with _CHECK_LOCK:
            errors = validate(schema, document)
        if errors:
            raise refuse(errors)
        fields = {
            selection.name.value
            for definition in document.definitions
            if isinstance(definition, OperationDefinitionNode)
            for selection in definition.selection_set.selections
            if isinstance(selection, FieldNode)
        }
        unserved = sorted(fields - {"markPullRequestReadyForReview"})
        if unserved:
            raise _Refusal(
                400,
                {"errors": [{"message": f"the fake does not serve {unserved}"}]},
                violation=f"GraphQL fields the fake does not serve: {unserved}",
            )
        with _CHECK_LOCK, self._lock:
            result = execute_sync(
                schema,
                document,
                root_value={"markPullRequestReadyForReview": self._mark_ready},
                variable_values=variables,
                operation_name=body.get("operationName"),
            )
        errors = list(result.errors or [])
        unexpected = [e for e in errors if (e.extensions or {}).get("type") != "NOT_FOUND"]
        if result.data is None or unexpected:
            raise refuse(unexpected or errors)
        answer: dict[str, Any] = {"data": result.data}
        if errors:  # GitHub puts its error type beside the message
            answer["errors"] = [e.formatted | {"type": "NOT_FOUND"} for e in errors]
        return 200, answer

    def _mark_ready(self, _: Any, input: dict[str, Any]) -> dict[str, Any]:
        node_id = input["pullRequestId"]
        pull = next((p for p in self._pulls.values() if p.node_id == node_id), None)
        if pull is None:
            raise GraphQLError(
                f"Could not resolve to a node with the global id of '{node_id}'",
                extensions={"type": "NOT_FOUND"},
            )
        pull.draft = False
        return {
            "clientMutationId": input.get("clientMutationId"),
            "pullRequest": {
                "id": pull.node_id,
                "number": pull.number,
                "url": f"https://github.com/{self.repo}/pull/{pull.number}",
                "isDraft": pull.draft,
                "state": "MERGED" if pull.merged else pull.state.upper(),
                "title": pull.title,
                "body": pull.body or "",
            },
        }


_HANDLERS: dict[str, Handler] = {
    "pulls/list": FakeGitHub._pulls_list,
    "pulls/create": FakeGitHub._pulls_create,
    "pulls/get": FakeGitHub._pulls_get,
    "pulls/update": FakeGitHub._pulls_update,
}


def _response_problem(
    desc: GitHubDescription, operation_id: str | None, status: int, payload: Any
) -> str | None:
    """What is wrong with an answer: checked against the operation's own response for that
    status, else GitHub's shared response for it; a status described nowhere is wrong too."""
    operation = desc.operations.get(operation_id) if operation_id else None
    if operation is not None and str(status) in operation.spec["responses"]:
        request = MockRequest(
            desc.server_url, operation.method, operation.template, path_pattern=operation.template
        )
        response = MockResponse(
            json.dumps(payload).encode(), status, content_type="application/json"
        )
        with _CHECK_LOCK:
            try:
                desc.responses.validate_response(request, response)
            except OpenAPIError as exc:
                return _describe(exc)
        return None
    shared = FALLBACK_RESPONSES.get(status)
    if shared is None:
        return f"status {status} is not described for {operation_id or 'an unknown route'}"
    spec = desc.responses.spec
    schema = spec / "components" / "responses" / shared / "content" / "application/json" / "schema"
    with _CHECK_LOCK:
        try:
            oas30_read_schema_validators_factory.create(spec, schema).validate(payload)
        except OpenAPIError as exc:
            return _describe(exc)
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in chain:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    return chain


def _describe(exc: BaseException) -> str:
    """openapi-core's error, short: what failed, then each schema error and where it is (its
    own message repeats the whole value, which for a pull request is pages long)."""
    chain = _chain(exc)
    where_wrong = [
        f"at {'/'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message}"
        for link in chain
        for error in getattr(link, "schema_errors", None) or ()
    ]
    if where_wrong:
        return str(exc).split(" Value ")[0].rstrip(": ") + ": " + "; ".join(where_wrong)
    lines = [
        str(link).splitlines()[0][:300] if str(link) else type(link).__name__ for link in chain
    ]
    return "; ".join(dict.fromkeys(lines))


def _decode_body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def _sha(ref: str) -> str:
    return hashlib.sha1(ref.encode()).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stall

    def _answer(self) -> None:
        fake: FakeGitHub = self.server.fake  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            status, headers, data = fake.handle(self.command, self.path, dict(self.headers), raw)
        except Exception as exc:  # a bug in the fake fails the test; it must not hang the client
            fake._violate(self.command, self.path, f"the fake crashed: {exc!r}")
            status, headers = 500, {"Content-Type": "application/json; charset=utf-8"}
            data = json.dumps({"message": f"fake GitHub crashed: {exc!r}"}).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the recorded requests say it better than stderr would
