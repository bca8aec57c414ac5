"""The OpenAPI document says exactly what the gateway does.

Three things litestar's generated document leaves out or loosens, put right here:

- every refusal a route can answer with (`refusals(404, 409, …)` on the route), in the error
  body's shape;
- request bodies as msgspec itself checks them: `additionalProperties: false` (request Structs
  forbid unknown fields), exclusive bounds, the bounds of list items, and the rules a Struct
  states beyond its fields (`json_schema_extra`, e.g. "exactly one of");
- the media types of the streamed answers (`text/event-stream`, `text/plain`).

`services/gateway/tests/test_gateway_fuzz.py` holds the server to the document with schemathesis.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import ResponseSpec
from litestar.types import Message, Scope


class ErrorItem(msgspec.Struct, frozen=True, kw_only=True):
    key: str | None = None
    message: str
    source: str | None = None


class ErrorBody(msgspec.Struct, frozen=True, kw_only=True):
    """Every refusal's body (litestar's own shape, plus what the gateway adds)."""

    status_code: int
    detail: str
    extra: list[ErrorItem] | dict[str, Any] | None = None
    """The request fields at fault."""
    setting: str | None = None
    """403, 413: the setting that decided (`CC_ALLOWED_ROOTS`, `CC_PLAN_MAX_BYTES`, …)."""
    candidates: list[str] | None = None
    """400 of a selection that matches nothing: what would; 409 of an ambiguous id (a run id
    prefix, a plan task id): what it matches."""
    request_id: str | None = None


_MEANING = {
    400: "Bad input: the body, a parameter or a header (`extra` names the fields)",
    401: "No token, or one that is unknown or revoked",
    403: "A path outside CC_ALLOWED_ROOTS or a remote CC_ALLOWED_REMOTES does not allow "
    "(`setting` names it)",
    404: "No such run, task, plan file or repository",
    409: "The state of the run or task does not allow this now, or a run id prefix (or plan "
    "task id) matches more than one (`candidates` lists them), or no live executor of the "
    "run's mode can run its agent (`extra` names the agent and the executors checked)",
    413: "The request body (CC_GATEWAY_MAX_BODY_BYTES) or the plan (CC_PLAN_MAX_BYTES) is too "
    "large",
    422: "This Idempotency-Key was used for a different request",
    503: "PostgreSQL or NATS is unavailable; the same request may work later (`Retry-After`)",
}


def refusals(*codes: int) -> dict[int, ResponseSpec]:
    """The route's documented refusals, each with the error body."""
    return {
        code: ResponseSpec(
            data_container=ErrorBody, description=_MEANING[code], generate_examples=False
        )
        for code in codes
    }


STREAMED: Mapping[str, tuple[str, ...]] = {
    "/api/v1/events": ("text/event-stream",),
    "/api/v1/runs/{run_id}/events": ("text/event-stream",),
    "/api/v1/runs/{run_id}/tasks/{task_id}/log": ("text/plain", "text/event-stream"),
}
"""The answers that are streams, by path: their 200's media types."""

_STREAM_SCHEMAS: Mapping[str, dict[str, Any]] = {
    "text/plain": {"type": "string"},
    # Each Server-Sent Event: `event` names a status event's type, `data` is its JSON.
    "text/event-stream": {
        "type": "object",
        "properties": {
            "event": {"type": "string"},
            "data": {"type": "string"},
            "id": {"type": "string", "pattern": "^[0-9]+$"},
            "retry": {"type": "integer"},
        },
    },
}


async def exact_allow_header(message: Message, scope: Scope) -> None:
    """`Allow` on an OPTIONS answer names every method of the path.

    litestar builds a path's OPTIONS answer with the first handler registered for it, and
    keeps that answer when a handler of another method joins the path later (`GET` and
    `POST /api/v1/runs`): its `Allow` then misses methods the path has.
    """
    if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
        return
    handler = scope.get("route_handler")
    paths = getattr(handler, "paths", None)
    if not paths:
        return
    path = next(iter(paths))
    app = scope["litestar_app"]
    methods = {m for route in app.routes if route.path == path for m in route.methods}
    if not methods:
        return
    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
    headers.append((b"allow", ", ".join(sorted(methods)).encode()))
    message["headers"] = headers


def refine(app: Litestar) -> None:
    """Put the document right, once, before it is first served (litestar caches the dict
    it serves; this edits that dict)."""
    document = _served(app)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    _exact_request_bodies(app, schemas)
    for operations in document["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", ()):
                _never_null(parameter)
            no_content = operation.get("responses", {}).get("204")
            if no_content is not None:
                no_content.pop("content", None)  # a 204 has no body, so no media type
    for path, media_types in STREAMED.items():
        ok = document["paths"].get(path, {}).get("get", {}).get("responses", {}).get("200")
        if ok is not None:
            ok["content"] = {kind: {"schema": _STREAM_SCHEMAS[kind]} for kind in media_types}


def _never_null(parameter: dict[str, Any]) -> None:
    """An optional header, query or path parameter is absent or a string, never `null`:
    litestar writes `str | None` as "string or null", and a client taking that at its word
    sends the text `null`."""
    schema = parameter.get("schema", {})
    branches = [b for b in schema.get("oneOf", ()) if b != {"type": "null"}]
    if "oneOf" in schema and len(branches) == 1:
        del schema["oneOf"]
        schema.update(branches[0])


def _served(app: Litestar) -> dict[str, Any]:
    from litestar._openapi.plugin import OpenAPIPlugin  # the plugin that serves the document

    served: dict[str, Any] = app.plugins.get(OpenAPIPlugin).provide_openapi_schema()
    return served


def _exact_request_bodies(app: Litestar, schemas: dict[str, Any]) -> None:
    structs = sorted(set(_request_structs(app)), key=lambda t: t.__name__)
    if not structs:
        return
    _, components = msgspec.json.schema_components(
        structs, ref_template="#/components/schemas/{name}"
    )
    for name, schema in components.items():
        schemas[name] = schema
    for struct in structs:
        extra = getattr(struct, "json_schema_extra", None)
        if extra and struct.__name__ in schemas:
            schemas[struct.__name__].update(extra)


def _request_structs(app: Litestar) -> Iterator[type[msgspec.Struct]]:
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if not isinstance(handler, HTTPRouteHandler) or not handler.include_in_schema:
                continue
            data = handler.parsed_fn_signature.parameters.get("data")
            if data is not None:
                yield from _structs_in(data.annotation)


def _structs_in(annotation: Any) -> Iterator[type[msgspec.Struct]]:
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        yield annotation
        return
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        yield from _structs_in(typing.get_args(annotation)[0])
    elif origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            yield from _structs_in(arg)
