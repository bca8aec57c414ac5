"""`commandcenter token create | list | revoke`: API tokens through the gateway (an admin
token's job). A new token's secret is printed once, on stdout alone, so `$(…)` can take it."""

from __future__ import annotations

import json
import sys
from typing import Any

from commandcenter.gateway_client import Gateway, client, get_json, path_part, request

SCOPES = ("runs:read", "runs:write", "control", "admin")


def create(*, gateway: Gateway, name: str, scopes: list[str], as_json: bool) -> int:
    with client(gateway) as http:
        created = request(
            http, "POST", "/api/v1/tokens", json={"name": name, "scopes": sorted(set(scopes))}
        ).json()
    if as_json:
        print(json.dumps(created, indent=2))
        return 0
    print(created["token"])
    print(
        f"token {created['name']!r} ({', '.join(created['scopes'])}) created: this is the only "
        "time it is shown; send it as `Authorization: Bearer …` or set CC_TOKEN",
        file=sys.stderr,
    )
    return 0


def _row(token: dict[str, Any]) -> str:
    used = token.get("last_used_at") or "never"
    revoked = f"  revoked {token['revoked_at']}" if token.get("revoked_at") else ""
    return (
        f"{token['name']:<20} {','.join(token['scopes']):<28} created {token['created_at']}  "
        f"last used {used}  id {token['id']}{revoked}"
    )


def list_tokens(*, gateway: Gateway, include_revoked: bool, as_json: bool) -> int:
    params = {"include_revoked": "true"} if include_revoked else {}
    with client(gateway) as http:
        listed = get_json(http, "/api/v1/tokens", params=params)
    if as_json:
        print(json.dumps(listed, indent=2))
    elif not listed["items"]:
        print("no tokens")
    else:
        for token in listed["items"]:
            print(_row(token))
    return 0


def revoke(*, gateway: Gateway, token: str) -> int:
    with client(gateway) as http:
        request(http, "DELETE", f"/api/v1/tokens/{path_part(token)}")
    print(f"revoked {token}: it stops working at once")
    return 0
