"""The results as rows (one figure and its baseline each) and as a markdown table."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.machine import Machine
from bench.stats import Sample


@dataclass
class Row:
    """One figure of ours beside its baseline, both over the repeated runs."""

    bench: str
    """Which benchmark, e.g. `1 orchestration`."""
    measure: str
    unit: str
    ours: Sample = field(default_factory=Sample)
    baseline: Sample = field(default_factory=Sample)
    ours_label: str = "CommandCenter"
    baseline_label: str = ""
    decimals: int = 1
    note: str = ""
    chart: bool = True
    """Drawn in the chart's panel of this benchmark (rows of one panel share a unit)."""
    chart_label: str = ""
    """A short name for the chart (default: `measure`, cut to fit)."""
    goal: str = ""
    """The standing goal this row's figure is read for (`bench.goals`, e.g. `P1`)."""

    @property
    def ratio(self) -> float | None:
        """ours ÷ baseline, on the medians."""
        if not self.ours or not self.baseline or self.baseline.median == 0:
            return None
        return self.ours.median / self.baseline.median

    def as_dict(self) -> dict[str, object]:
        return {
            "bench": self.bench,
            "measure": self.measure,
            "unit": self.unit,
            "ours_label": self.ours_label,
            "ours": self.ours.values,
            "baseline_label": self.baseline_label,
            "baseline": self.baseline.values,
            "ratio": self.ratio,
            "note": self.note,
            "goal": self.goal,
        }


def fmt(sample: Sample, decimals: int) -> str:
    if not sample:
        return "-"
    median = f"{sample.median:,.{decimals}f}"
    if len(sample.values) == 1 or sample.low == sample.high:
        return median
    return f"{median} ({sample.low:,.{decimals}f}-{sample.high:,.{decimals}f})"


def markdown_table(rows: list[Row]) -> str:
    lines = [
        "| benchmark | measure | unit | ours: median (min-max) | baseline: median (min-max) "
        "| ours ÷ baseline |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        ours = fmt(row.ours, row.decimals)
        if row.ours and row.ours_label != "CommandCenter":
            ours = f"{row.ours_label}: {ours}"
        base = fmt(row.baseline, row.decimals)
        if row.baseline:
            base = f"{row.baseline_label}: {base}"
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}"
        measure = f"{row.measure}<br><sub>{row.note}</sub>" if row.note else row.measure
        lines.append(f"| {row.bench} | {measure} | {row.unit} | {ours} | {base} | {ratio} |")
    return "\n".join(lines)


def results_markdown(
    rows: list[Row],
    goals: str,
    machine: Machine,
    *,
    command: str,
    repeat: int,
    elapsed_s: float,
    quick: bool,
    load: tuple[float, float],
) -> str:
    mode = "quick smoke run (tiny N: not a measurement)" if quick else "full run"
    return "\n".join(
        [
            "# CommandCenter benchmark results",
            "",
            f"- machine: {machine.describe()}",
            f"- 1-minute load average before / after the run: {load[0]:.2f} / {load[1]:.2f} "
            f"(on {machine.cores} cores; anything else running inflates the figures)",
            f"- command: `{command}` ({mode}; {repeat} repetition(s) per figure; "
            f"the whole suite took {elapsed_s / 60:.1f} min)",
            "- every figure: the median over the repetitions, with (min-max); "
            "the ratio is ours ÷ baseline on the medians",
            "- method and how to read it: `bench/README.md`; chart: `results.png` (growth: "
            "`growth.png`); every sample: `results.json`",
            "",
            "## Where each goal stands",
            "",
            goals,
            "",
            "## Every figure",
            "",
            markdown_table(rows),
            "",
        ]
    )
