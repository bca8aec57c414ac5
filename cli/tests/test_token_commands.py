"""`commandcenter token create | list | revoke` against a real gateway, and how the CLI finds
the token it sends: `CC_TOKEN`, else the admin token of the data directory's running stack."""

from __future__ import annotations

import json

import httpx
import pytest
from commandcenter.main import main

pytestmark = pytest.mark.integration


def test_create_list_and_revoke_a_token(gateway: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["token", "create", "--name", "ci", "--scope", "runs:read", "--scope", "control"]
    assert main([*argv, "--gateway", gateway]) == 0
    out, err = capsys.readouterr()
    secret = out.strip()
    assert secret.startswith("cc_") and "\n" not in secret  # stdout: the secret alone
    assert "only time" in err

    ci = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(f"{gateway}/api/v1/runs", headers=ci).status_code == 200
    assert httpx.post(f"{gateway}/api/v1/runs", json={}, headers=ci).status_code == 403

    assert main(["token", "list", "--gateway", gateway]) == 0
    listed = capsys.readouterr().out
    assert "ci" in listed and "control,runs:read" in listed and "admin" in listed
    assert secret not in listed

    assert (
        main(["token", "create", "--name", "ci", "--scope", "runs:read", "--gateway", gateway]) == 2
    )
    assert "named 'ci' already" in capsys.readouterr().err
    assert main(["token", "create", "--name", "x", "--scope", "root", "--gateway", gateway]) == 2
    assert "--scope root" in capsys.readouterr().err

    assert main(["token", "revoke", "ci", "--gateway", gateway]) == 0
    assert "revoked ci" in capsys.readouterr().out
    assert httpx.get(f"{gateway}/api/v1/runs", headers=ci).status_code == 401
    assert main(["token", "revoke", "ci", "--gateway", gateway]) == 2

    assert main(["token", "list", "--all", "--json", "--gateway", gateway]) == 0
    everything = json.loads(capsys.readouterr().out)
    (revoked,) = [t for t in everything["items"] if t["name"] == "ci"]
    assert revoked["revoked_at"] is not None


def test_a_command_without_a_token_says_how_to_get_one(
    gateway: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CC_TOKEN")
    assert main(["runs", "--gateway", gateway]) == 2
    err = capsys.readouterr().err
    assert "needs an API token" in err and "CC_TOKEN" in err and "admin.token" in err

    # An unknown token: the gateway's sentence.
    monkeypatch.setenv("CC_TOKEN", "cc_" + "C" * 43)
    assert main(["runs", "--gateway", gateway]) == 2
    assert "unknown or revoked" in capsys.readouterr().err
