"""What every benchmark gets from the runner: where to work, how to report, when to wait."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.chart import Curve


@dataclass
class Context:
    root: Path
    """The working folder (stacks, repositories, logs), removed after the run."""
    say: Callable[[str], None]
    """Progress lines for the person watching."""
    settle: Callable[[], None]
    """Call before each measurement: waits a while for other work on the machine to calm
    down (does nothing in a quick run)."""
    failures: list[str] = field(default_factory=list)
    """Parts of a benchmark that could not be measured while its other parts were: reported
    as failures beside the figures that were."""
    problems: list[str] = field(default_factory=list)
    """Tracebacks found in the services' logs: findings, reported with the results."""
    curves: dict[str, list[Curve]] = field(default_factory=dict)
    """Figures measured at several sizes, drawn as curves: file name (e.g. `growth.png`) →
    its panels."""
