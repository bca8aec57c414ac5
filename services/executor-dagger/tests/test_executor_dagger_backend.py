"""Backend selection: `auto` falls back to engine-less when no Dagger engine answers (none can
run on these machines), says so in one line, and `dagger` refuses to start without one."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cc_taskrunner import FreshCloneIsolation
from executor_dagger import Settings
from executor_dagger.backend import BackendUnavailable, open_backend


def _settings(tmp_path: Path, backend: str) -> Settings:
    return Settings.from_env(
        {
            "CC_DAGGER_BACKEND": backend,
            "CC_WORK_ROOT": str(tmp_path / "work"),
            "CC_DAGGER_CONNECT_TIMEOUT_S": "20",
        }
    )


async def test_auto_without_an_engine_runs_engineless_and_says_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="executor_dagger.backend")
    backend = await open_backend(_settings(tmp_path, "auto"))
    try:
        if backend.name == "dagger":
            pytest.skip("a Dagger engine answered on this machine")
        assert backend.name == "engineless"
        assert isinstance(backend.isolation, FreshCloneIsolation)
        records = [r for r in caplog.records if r.name == "executor_dagger.backend"]
        # One INFO line, no download error in it; why no engine answered is for DEBUG only.
        info = [r.getMessage() for r in records if r.levelno >= logging.INFO]
        assert info == ["dagger backend: no Dagger engine; using the engine-less backend"]
        [debug] = [r.getMessage() for r in records if r.levelno == logging.DEBUG]
        assert debug == f"no Dagger engine reachable: {backend.detail}"
        assert backend.detail  # the SDK's error, e.g. `DownloadError: Failed to download …`
    finally:
        await backend.close()


async def test_a_forced_dagger_backend_without_an_engine_is_an_error(tmp_path: Path) -> None:
    try:
        backend = await open_backend(_settings(tmp_path, "dagger"))
    except BackendUnavailable as exc:
        error = str(exc)
    else:
        await backend.close()
        pytest.skip("a Dagger engine answered on this machine")
    assert error.startswith("CC_DAGGER_BACKEND=dagger, but no Dagger engine reachable: ")


async def test_engineless_is_chosen_without_trying_an_engine(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="executor_dagger.backend")
    backend = await open_backend(_settings(tmp_path, "engineless"))
    assert backend.name == "engineless"
    assert "dagger backend: engine-less (CC_DAGGER_BACKEND=engineless)" in caplog.messages


def _run_module(**env: str) -> subprocess.CompletedProcess[str]:
    """`python -m executor_dagger` with these variables, to the end (it is meant to refuse)."""
    return subprocess.run(
        [sys.executable, "-m", "executor_dagger"],
        env={**os.environ, "CC_LOG_FORMAT": "console", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_module_exits_with_a_clear_error_when_dagger_is_forced() -> None:
    result = _run_module(
        CC_DAGGER_BACKEND="dagger",
        CC_NATS_URL="nats://127.0.0.1:1",  # never reached: the backend comes first
        CC_DAGGER_CONNECT_TIMEOUT_S="20",
    )
    if "dagger backend: Dagger engine" in result.stderr:
        pytest.skip("a Dagger engine answered on this machine")
    assert result.returncode == 2, result.stderr
    assert "CC_DAGGER_BACKEND=dagger, but no Dagger engine reachable" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_setting_stops_the_module_with_the_variable_named() -> None:
    result = _run_module(CC_DAGGER_SLOTS="many")
    assert result.returncode == 2
    assert "CC_DAGGER_SLOTS must be a whole number" in result.stderr
