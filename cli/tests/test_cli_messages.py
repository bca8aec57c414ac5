"""What the command line says when something is wrong, against a real gateway process (with a
real nats-server and PostgreSQL): one plain sentence naming its own flags, relative paths
resolved once against its working directory, the stack of a data directory found (and, when
none is, where it looked), a selection's skipped dependencies as warnings."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from cli_support import auth_headers
from commandcenter.api_errors import sentence
from commandcenter.gateway_client import find_gateway
from commandcenter.gitfixtures import GitSandbox, git
from commandcenter.main import main
from commandcenter.servers import free_port
from commandcenter.stack import Stack

pytestmark = pytest.mark.integration

DEPENDENT_PLAN = """# Dependent
## Batch 1: Base
### Task 1.1: Schema
Create `schema.sql`.
## Batch 2: API
**Dependencies:** Batch 1
### Task 2.1: Endpoint
Create `api.py`.
"""


def _plan_in(sandbox: GitSandbox) -> Path:
    plan = sandbox.repo / "DEPENDENT.md"
    plan.write_text(DEPENDENT_PLAN)
    git(sandbox.repo, "add", "DEPENDENT.md")
    git(sandbox.repo, "commit", "-q", "-m", "plan")
    return plan


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one line
    return err.strip()


def test_a_bad_selection_is_one_sentence_naming_the_flag(
    gateway: str, git_sandbox: GitSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _plan_in(git_sandbox)

    assert main(["run", str(plan), "--batches", "3", "--gateway", gateway]) == 2
    said = _error_line(capsys)
    assert said.startswith("commandcenter: --batches: no batch matches batch 3"), said
    assert "batch 1" in said and "batch 2" in said  # what the plan has
    for raw in ("selection", "400", "{", "/api/v1"):
        assert raw not in said

    # --verbose keeps the details: the request, the status and the gateway's whole answer.
    assert main(["-v", "run", str(plan), "--batches", "3", "--gateway", gateway]) == 2
    err = capsys.readouterr().err
    assert "POST /api/v1/runs -> 400" in err
    assert '"key":"selection"' in err.replace(" ", "")

    # Checks the gateway's request schema makes (litestar) are spelled as flags too.
    assert main(["run", str(plan), "--timeout", "-1", "--gateway", gateway]) == 2
    said = _error_line(capsys)
    assert said.startswith("commandcenter: --timeout: "), said
    assert "timeout_s" not in said and "Validation failed" not in said

    # A field quoted in the gateway's sentence becomes the flag that sets it.
    orphan = git_sandbox.repo.parent / "loose.md"
    orphan.write_text(DEPENDENT_PLAN)
    assert main(["run", str(orphan), "--gateway", gateway]) == 2
    said = _error_line(capsys)
    assert "pass --repo" in said and "`repo`" not in said, said


def test_relative_paths_resolve_once_against_the_working_directory(
    gateway: str,
    git_sandbox: GitSandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    plan = _plan_in(git_sandbox)
    monkeypatch.chdir(git_sandbox.repo.parent)  # tmp_path/git: the plan is repo/DEPENDENT.md
    capsys.readouterr()

    # Typed relative to here: found here, reported as typed when it is not there.
    assert main(["run", "repo/NOPE.md", "--gateway", gateway]) == 2
    assert _error_line(capsys) == "commandcenter: plan file not found: repo/NOPE.md"
    assert main(["plan", "show", "repo/NOPE.md"]) == 2
    assert _error_line(capsys) == "commandcenter: plan file not found: repo/NOPE.md"
    assert main(["run", "repo/DEPENDENT.md", "--repo", "nowhere", "--gateway", gateway]) == 2
    assert _error_line(capsys) == "commandcenter: --repo nowhere: no such directory"
    assert main(["plan", "show", "repo/DEPENDENT.md"]) == 0
    assert "Endpoint" in capsys.readouterr().out

    argv = ["run", "repo/DEPENDENT.md", "--batches", "2", "--repo", "repo", "--gateway", gateway]
    assert main(argv) == 0
    captured = capsys.readouterr()
    run_id = captured.out.split()[1]
    # The selection leaves out what batch 2 depends on: a warning, pointing to --base-ref;
    # and no executor is alive in this test: a warning that the run waits for one.
    warning, no_executor = captured.err.splitlines()
    assert no_executor.startswith("warning: no local executor is alive now"), no_executor
    assert warning.startswith("warning: batch 2 'API' depends on task 1.1 of batch 1"), warning
    assert "--base-ref" in warning
    view = httpx.get(f"{gateway}/api/v1/runs/{run_id}", headers=auth_headers(), timeout=10).json()
    assert view["plan_path"] == str(plan)
    assert view["repo"] == str(git_sandbox.repo)


def test_the_cli_finds_the_stack_of_its_data_directory_or_says_where_it_looked(
    gateway: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The gateway fixture keeps its admin token in tmp_path: make that a stack's data
    # directory, its stack.json written by the code `up` writes it with.
    Stack(tmp_path, gateway_port=int(gateway.rsplit(":", 1)[1]))._write_state()
    assert json.loads((tmp_path / "stack.json").read_text())["gateway_url"] == gateway
    for name in ("CC_TOKEN", "CC_GATEWAY_URL", "CC_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # no ./.cc here

    assert main(["status", "--data-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out == "no runs yet\n"
    main(["preflight", "--data-dir", str(tmp_path)])  # its exit status is about agents too
    assert f"ok  gateway        {gateway} (the stack of {tmp_path})" in capsys.readouterr().out
    monkeypatch.setenv("CC_DATA_DIR", str(tmp_path))
    assert main(["runs", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    monkeypatch.delenv("CC_DATA_DIR")

    # A stack.json whose gateway is gone, and none at all: the places looked at are named.
    gone = tmp_path / "gone"
    gone.mkdir()
    dead = f"http://127.0.0.1:{free_port()}"
    (gone / "stack.json").write_text(json.dumps({"gateway_url": dead}))
    found = find_gateway(None, gone)
    assert found.url == "http://127.0.0.1:8001"
    assert found.token is None  # no admin token goes to a gateway its stack does not serve
    text = found.not_there()
    assert "--gateway, $CC_GATEWAY_URL: not set" in text
    assert f"{gone / 'stack.json'}: names {dead}, which does not answer" in text
    assert "http://127.0.0.1:8001, the default: nothing answers" in text
    assert "commandcenter up" in text
    here = find_gateway(None, Path(".cc")).not_there()
    assert f"{elsewhere / '.cc' / 'stack.json'}: none" in here


def test_error_answers_without_json_or_with_candidates_stay_one_sentence() -> None:
    proxy = httpx.Response(502, text="<html>\n<b>Bad gateway</b>\n</html>")
    assert sentence(proxy) == "the gateway answered 502: <html> <b>Bad gateway</b> </html>"
    ambiguous = httpx.Response(
        409, json={"detail": "run 7501 is ambiguous", "candidates": ["7501aa", "7501bb"]}
    )
    assert sentence(ambiguous) == "run 7501 is ambiguous (it could be: 7501aa, 7501bb)"
    listed = httpx.Response(
        409, json={"detail": "run 7501 is 7501aa or 7501bb", "candidates": ["7501aa"]}
    )
    assert sentence(listed) == "run 7501 is 7501aa or 7501bb"
    budget = httpx.Response(
        400,
        json={
            "detail": "Validation failed for POST /api/v1/runs/x/budget",
            "extra": [{"key": "max_cost_usd", "message": "Expected `float` >= 0.0"}],
        },
    )
    assert sentence(budget) == "--budget: Expected `float` >= 0.0"
    assert sentence(budget, {"max_cost_usd": "USD"}) == "USD: Expected `float` >= 0.0"
