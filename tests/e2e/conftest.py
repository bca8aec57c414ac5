"""The whole stack, started the way `commandcenter up` starts it, once per test module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from commandcenter.stack import Stack

from tests.e2e.helpers import running_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("stack")
    messages: list[str] = []
    with running_stack(
        data_dir,
        local_executors=2,  # two replicas: local mode must stay sequential anyway
        dagger_executors=0,
        extra_env={"CC_ACK_WAIT_S": "30", "CC_CLAUDE_BIN": str(data_dir / "no-such-claude")},
        say=messages.append,
    ) as running:
        yield running
    for log in sorted((data_dir / "logs").glob("*.log")):
        text = log.read_text(errors="replace")
        if "Traceback" in text:
            print(f"--- {log.name} (has a traceback)\n{text[-4000:]}")


@pytest.fixture
def plans_dir(tmp_path: Path) -> Path:
    path = tmp_path / "plans"
    path.mkdir()
    return path
