"""The README's configuration table lists exactly the `CC_…` variables the services read.

The settings objects are asked, not grepped: each service's `Settings.from_env` reads a
mapping that records every name it looks up. A new setting without a README row (or a row
left behind by a removed one) fails here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import executor_dagger
import executor_local
import gateway.settings
import planner.settings

README = Path(__file__).resolve().parents[1] / "README.md"

READ_OUTSIDE_SETTINGS = {
    "CC_LOG_FORMAT": "cc_bus.logs.configure_logging, every service",
    "CC_LOG_LEVEL": "cc_bus.logs.configure_logging, every service",
    "CC_GATEWAY_URL": "the commandcenter command",
    "CC_DATA_DIR": "the commandcenter command",
    "CC_TOKEN": "the commandcenter command: the API token it sends",
    "CC_GIT_TOKEN": "a credential: handed to git by the dagger executor, never a setting",
}


REQUIRED = {"CC_DATABASE_URL": "postgresql://cc@127.0.0.1/cc"}


class Recorder(Mapping[str, str]):
    """An environment of only the required values that remembers which names were asked for."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = dict(values)
        self.asked: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        return self.values[name]

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            self.asked.add(name)
        return name in self.values

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


def settings_variables() -> set[str]:
    recorder = Recorder(REQUIRED)
    executor_local.Settings.from_env(recorder)
    executor_dagger.Settings.from_env(recorder)
    planner.settings.Settings.from_env(recorder)
    gateway.settings.Settings.from_env(recorder)
    return {name for name in recorder.asked if name.startswith("CC_")}


def documented_variables() -> set[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`(CC_[A-Z0-9_]+)`", row)}


def test_the_settings_read_what_the_recorder_sees() -> None:
    # The recorder itself works: the settings objects do ask it (else the next tests pass
    # vacuously).
    found = settings_variables()
    assert {"CC_NATS_URL", "CC_ACK_WAIT_S", "CC_DAGGER_SLOTS", "CC_PLANNER_WORK_DIR"} <= found


def test_every_setting_has_a_readme_row() -> None:
    missing = (settings_variables() | set(READ_OUTSIDE_SETTINGS)) - documented_variables()
    assert not missing, f"README ## Configuration lacks: {', '.join(sorted(missing))}"


def test_every_readme_row_is_a_setting() -> None:
    stale = documented_variables() - settings_variables() - set(READ_OUTSIDE_SETTINGS)
    assert not stale, f"README ## Configuration lists unknown variables: {sorted(stale)}"
