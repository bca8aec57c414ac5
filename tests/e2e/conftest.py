"""The whole stack, started the way `commandcenter up` starts it, once per test module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from commandcenter.servers import free_port
from commandcenter.stack import Stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("stack")
    messages: list[str] = []
    running = Stack(
        data_dir,
        gateway_port=free_port(),
        local_executors=2,  # two replicas: local mode must stay sequential anyway
        dagger_executors=0,
        extra_env={"CC_ACK_WAIT_S": "30", "CC_CLAUDE_BIN": str(data_dir / "no-such-claude")},
        say=messages.append,
    )
    try:
        running.start(ready_timeout=90)
    except Exception:
        running.stop()
        for log in sorted((data_dir / "logs").glob("*.log")):
            print(f"--- {log.name}\n{log.read_text()[-3000:]}")
        raise
    yield running
    running.stop()
    for log in sorted((data_dir / "logs").glob("*.log")):
        text = log.read_text(errors="replace")
        if "Traceback" in text:
            print(f"--- {log.name} (has a traceback)\n{text[-4000:]}")


@pytest.fixture
def plans_dir(tmp_path: Path) -> Path:
    path = tmp_path / "plans"
    path.mkdir()
    return path
