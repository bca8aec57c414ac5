"""Talking to the gateway: where it is, one HTTP client, its errors as user-facing messages."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from commandcenter import api_errors
from commandcenter.credentials import token_for
from commandcenter.discovery import DEFAULT_GATEWAY, look_for_stack

__all__ = ["DEFAULT_GATEWAY", "CliError", "Gateway", "find_gateway"]


class CliError(Exception):
    """A user-facing error: printed without a traceback, exit code 2. `details` (the request
    and the gateway's whole answer) are shown with `--verbose`."""

    def __init__(self, message: str, details: str | None = None) -> None:
        super().__init__(message)
        self.details = details


@dataclass(frozen=True)
class Gateway:
    """A gateway to talk to: where, the API token to send (None: none is known), how it was
    found, and (when no stack was found) where the command looked."""

    url: str
    token: str | None = None
    found_by: str = ""
    looked_at: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.url

    def not_there(self) -> str:
        """Why nothing may answer at `url`, and what to do about it."""
        if not self.looked_at:
            by = f" ({self.found_by})" if self.found_by else ""
            return f"nothing answers at {self.url}{by}; is its stack running?"
        return (
            f"no running stack found (looked at {'; '.join(self.looked_at)}; {self.url}, the "
            "default: nothing answers); start one with `commandcenter up`, or name a running "
            "one with --data-dir DIR (where its `up` keeps its state) or $CC_GATEWAY_URL"
        )


def find_gateway(explicit: str | None, data_dir: Path) -> Gateway:
    """`--gateway`, else `$CC_GATEWAY_URL`, else the stack running on the data directory (its
    stack.json), else the default port on this machine; with its token
    (`commandcenter.credentials`)."""
    env = os.environ.get("CC_GATEWAY_URL")
    if explicit or env:
        url = (explicit or env or "").rstrip("/")
        found_by = "--gateway" if explicit else "$CC_GATEWAY_URL"
        return Gateway(url, token_for(url, data_dir), found_by)
    stack = look_for_stack(data_dir)
    if stack.url is not None:
        return Gateway(stack.url, token_for(stack.url, data_dir), f"the stack of {stack.data_dir}")
    looked_at = ("--gateway, $CC_GATEWAY_URL: not set", stack.why_not)
    return Gateway(DEFAULT_GATEWAY, token_for(DEFAULT_GATEWAY, data_dir), "the default", looked_at)


class GatewayClient(httpx.Client):
    """An HTTP client for one gateway, which it remembers for its error messages."""

    def __init__(self, gateway: Gateway) -> None:
        headers = {"Authorization": f"Bearer {gateway.token}"} if gateway.token else {}
        super().__init__(base_url=gateway.url, timeout=httpx.Timeout(30.0), headers=headers)
        self.gateway = gateway


def client(gateway: Gateway) -> httpx.Client:
    return GatewayClient(gateway)


def path_part(value: str) -> str:
    """A user's text as one segment of an API path (a `/` in it cannot reach another route)."""
    return quote(value, safe="")


NO_TOKEN_HINT = (
    "set CC_TOKEN to an API token (`commandcenter token create`), or run the command where "
    "the stack's data directory is, or with --data-dir (`up` keeps its admin token in "
    "<data-dir>/admin.token)"
)


def refused(
    method: str, path: str, response: httpx.Response, flags: Mapping[str, str] | None = None
) -> CliError:
    """An error answer as a `CliError`: one sentence, the rest for `--verbose`."""
    text = api_errors.sentence(response, flags)
    if response.status_code == 401:
        text = f"{text}: {NO_TOKEN_HINT}"
    return CliError(text, api_errors.details(method, path, response))


def unreachable(where: object, exc: Exception) -> CliError:
    """The gateway did not answer: where the command looked for it (a `Gateway`, or a client
    of one), else the address it tried."""
    gateway = getattr(where, "gateway", where)
    if isinstance(gateway, Gateway):
        return CliError(f"cannot reach the gateway: {gateway.not_there()}", f"{exc!r}")
    return CliError(
        f"cannot reach the gateway at {where} ({exc}); start the stack with `commandcenter up`"
    )


def request(
    client: httpx.Client,
    method: str,
    path: str,
    *,
    flags: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """The answer to one request; an unreachable gateway or an error answer is a `CliError`
    (`flags`: how this command spells request fields that `api_errors.FLAGS` spells
    otherwise)."""
    try:
        response = client.request(method, path, **kwargs)
    except httpx.TransportError as exc:
        raise unreachable(client, exc) from exc
    if response.status_code >= 400:
        raise refused(method, path, response, flags)
    return response


def get_json(client: httpx.Client, path: str, **kwargs: Any) -> Any:
    return request(client, "GET", path, **kwargs).json()
