"""Talking to the gateway: where it is, one HTTP client, its errors as user-facing messages."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from commandcenter.credentials import token_for
from commandcenter.stack import running_gateway

DEFAULT_GATEWAY = "http://127.0.0.1:8001"


class CliError(Exception):
    """A user-facing error: printed without a traceback, exit code 2."""


def gateway_url(explicit: str | None, data_dir: Path) -> str:
    """`--gateway`, else `$CC_GATEWAY_URL`, else a stack running in the data directory, else
    the default port on this machine."""
    chosen = explicit or os.environ.get("CC_GATEWAY_URL")
    if chosen:
        return chosen.rstrip("/")
    return running_gateway(data_dir) or DEFAULT_GATEWAY


@dataclass(frozen=True)
class Gateway:
    """A gateway to talk to: where, and the API token to send (None: none is known)."""

    url: str
    token: str | None = None

    def __str__(self) -> str:
        return self.url


def find_gateway(explicit: str | None, data_dir: Path) -> Gateway:
    """The gateway (see `gateway_url`) and its token (`commandcenter.credentials`)."""
    url = gateway_url(explicit, data_dir)
    return Gateway(url, token_for(url, data_dir))


def client(gateway: Gateway) -> httpx.Client:
    headers = {"Authorization": f"Bearer {gateway.token}"} if gateway.token else {}
    return httpx.Client(base_url=gateway.url, timeout=httpx.Timeout(30.0), headers=headers)


def path_part(value: str) -> str:
    """A user's text as one segment of an API path (a `/` in it cannot reach another route)."""
    return quote(value, safe="")


def error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    if not isinstance(body, dict):
        return str(body)[:500]
    detail = body.get("detail") or body.get("message") or body
    extra = body.get("extra")
    return f"{detail} {json.dumps(extra)}" if extra else str(detail)


NO_TOKEN_HINT = (
    "set CC_TOKEN to an API token (`commandcenter token create`), or run the command where "
    "the stack's data directory is (`up` keeps its admin token in <data-dir>/admin.token)"
)


def unreachable(base: object, exc: Exception) -> CliError:
    return CliError(
        f"cannot reach the gateway at {base} ({exc}); start the stack with `commandcenter up`"
    )


def request(client: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """The answer to one request; an unreachable gateway or an error answer is a `CliError`."""
    try:
        response = client.request(method, path, **kwargs)
    except httpx.TransportError as exc:
        raise unreachable(client.base_url, exc) from exc
    if response.status_code == 401:
        raise CliError(f"{error_text(response)}: {NO_TOKEN_HINT}")
    if response.status_code >= 400:
        raise CliError(f"{method} {path} -> {response.status_code}: {error_text(response)}")
    return response


def get_json(client: httpx.Client, path: str, **kwargs: Any) -> Any:
    return request(client, "GET", path, **kwargs).json()
