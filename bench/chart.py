"""The results as a PNG bar chart, drawn without any plotting library.

One panel per benchmark; per figure a blue bar (ours) and a grey bar (its baseline), each at
the median with a whisker from min to max. A panel's figures share its unit, so their bars
compare. The PNG is written with zlib and struct only, so the chart needs no dependency.

Figures measured at several sizes (the growth section) are drawn as curves instead, one panel
per figure (`render_curves`): ours in blue, a grey reference curve (what the goal allows).
"""

from __future__ import annotations

import itertools
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from bench import font
from bench.report import Row

Color = tuple[int, int, int]
WHITE: Color = (255, 255, 255)
INK: Color = (40, 40, 40)
GRID: Color = (225, 225, 225)
OURS: Color = (45, 110, 190)
BASELINE: Color = (160, 160, 160)

WIDTH, COLUMNS = 1600, 2
PANEL_W = WIDTH // COLUMNS
HEADER_H = 70
SCALE = 2  # font pixels per bitmap pixel
CHAR_W = (font.WIDTH + 1) * SCALE
LINE_H = (font.HEIGHT + 3) * SCALE
BAR_H, BAR_GAP, ROW_GAP = 18, 4, 14
LABEL_W = 26 * CHAR_W
VALUE_W = 11 * CHAR_W


class Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(WHITE * (width * height))

    def rect(self, x: int, y: int, w: int, h: int, color: Color) -> None:
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(self.width, x + w), min(self.height, y + h)
        if x1 <= x0 or y1 <= y0:
            return
        line = bytes(color) * (x1 - x0)
        for row in range(y0, y1):
            start = (row * self.width + x0) * 3
            self.pixels[start : start + len(line)] = line

    def line(self, x0: int, y0: int, x1: int, y1: int, color: Color, width: int = 3) -> None:
        steps = max(abs(x1 - x0), abs(y1 - y0), 1)
        for k in range(steps + 1):
            x = x0 + (x1 - x0) * k // steps
            y = y0 + (y1 - y0) * k // steps
            self.rect(x - width // 2, y - width // 2, width, width, color)

    def text(self, x: int, y: int, text: str, color: Color = INK, scale: int = SCALE) -> None:
        for i, char in enumerate(text):
            for r, bits in enumerate(font.glyph(char)):
                for c, bit in enumerate(bits):
                    if bit == "#":
                        self.rect(
                            x + (i * (font.WIDTH + 1) + c) * scale,
                            y + r * scale,
                            scale,
                            scale,
                            color,
                        )

    def png(self) -> bytes:
        raw = b"".join(
            b"\x00" + bytes(self.pixels[row * self.width * 3 : (row + 1) * self.width * 3])
            for row in range(self.height)
        )

        def chunk(kind: bytes, data: bytes) -> bytes:
            body = kind + data
            return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b"")
        )


def _fit(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "."


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _panel_height(rows: list[Row]) -> int:
    bars = sum((2 if row.baseline else 1) for row in rows)
    return 2 * LINE_H + bars * (BAR_H + BAR_GAP) + len(rows) * ROW_GAP + 30


def _draw_panel(canvas: Canvas, x: int, y: int, title: str, rows: list[Row]) -> None:
    unit = rows[0].unit
    canvas.text(x + 10, y + 6, _fit(f"{title} ({unit})", (PANEL_W - 20) // CHAR_W))
    samples = [s for row in rows for s in (row.ours, row.baseline) if s]
    top = max(s.high for s in samples) or 1.0
    bar_x = x + 10 + LABEL_W
    bar_w = PANEL_W - LABEL_W - VALUE_W - 30
    cursor = y + 2 * LINE_H
    height = _panel_height(rows) - 2 * LINE_H - 20
    for tick in range(5):  # light grid at quarters of the scale
        canvas.rect(bar_x + bar_w * tick // 4, cursor - 4, 1, height, GRID)
    for row in rows:
        label_chars = LABEL_W // CHAR_W - 1
        canvas.text(x + 10, cursor + 2, _fit(row.chart_label or row.measure, label_chars))
        for sample, color in ((row.ours, OURS), (row.baseline, BASELINE)):
            if not sample:
                continue
            length = max(1, round(bar_w * sample.median / top))
            canvas.rect(bar_x, cursor, length, BAR_H, color)
            lo, hi = (bar_x + round(bar_w * v / top) for v in (sample.low, sample.high))
            mid = cursor + BAR_H // 2
            canvas.rect(lo, mid - 1, max(1, hi - lo), 2, INK)
            canvas.rect(lo, mid - 5, 2, 10, INK)
            canvas.rect(hi - 1, mid - 5, 2, 10, INK)
            canvas.text(bar_x + bar_w + 14, cursor + 2, _number(sample.median))
            cursor += BAR_H + BAR_GAP
        cursor += ROW_GAP


def render_chart(rows: list[Row], subtitle: str) -> bytes:
    panels: dict[str, list[Row]] = {}
    for row in rows:
        if row.chart and (row.ours or row.baseline):
            panels.setdefault(row.bench, []).append(row)
    names = sorted(panels)
    grid = [names[i : i + COLUMNS] for i in range(0, len(names), COLUMNS)]
    heights = [max(_panel_height(panels[n]) for n in line) for line in grid]
    canvas = Canvas(WIDTH, HEADER_H + sum(heights) + 10)
    canvas.text(10, 8, "COMMANDCENTER BENCHMARKS: MEDIAN, WHISKER MIN-MAX")
    canvas.text(10, 8 + LINE_H, _fit(subtitle, WIDTH // CHAR_W - 2), scale=SCALE)
    legend_y = 8 + 2 * LINE_H
    canvas.rect(10, legend_y, 20, 14, OURS)
    canvas.text(36, legend_y, "COMMANDCENTER")
    canvas.rect(36 + 15 * CHAR_W, legend_y, 20, 14, BASELINE)
    canvas.text(62 + 15 * CHAR_W, legend_y, "BASELINE (SEE RESULTS.MD)")
    y = HEADER_H + 10
    for line, height in zip(grid, heights, strict=True):
        for column, name in enumerate(line):
            _draw_panel(canvas, column * PANEL_W, y, name, panels[name])
        canvas.rect(0, y + height - 6, WIDTH, 1, GRID)
        y += height
    return canvas.png()


def write_chart(rows: list[Row], subtitle: str, path: Path) -> None:
    path.write_bytes(render_chart(rows, subtitle))


@dataclass
class Curve:
    """One figure measured at several sizes: a panel of `render_curves`."""

    title: str
    unit: str
    xs: list[float]
    ys: list[float]
    reference: list[float] | None = None
    """A grey curve beside ours, e.g. what the goal allows at each size."""
    reference_label: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "title": self.title,
            "unit": self.unit,
            "x": self.xs,
            "y": self.ys,
            "reference": self.reference,
            "reference_label": self.reference_label,
        }


CURVE_PANEL_H = 420
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 8 * CHAR_W, 70, 3 * LINE_H + 10, 3 * LINE_H


def _draw_curve_panel(canvas: Canvas, x: int, y: int, curve: Curve, x_label: str) -> None:
    canvas.text(x + 10, y + 6, _fit(f"{curve.title} ({curve.unit})", (PANEL_W - 20) // CHAR_W))
    if curve.reference_label:
        canvas.rect(x + 10, y + 12 + LINE_H + LINE_H // 2, 20, 4, BASELINE)
        canvas.text(x + 36, y + 12 + LINE_H, _fit(curve.reference_label, (PANEL_W - 50) // CHAR_W))
    left, right = x + PLOT_LEFT, x + PANEL_W - PLOT_RIGHT
    top, bottom = y + PLOT_TOP, y + CURVE_PANEL_H - PLOT_BOTTOM
    values = curve.ys + (curve.reference or [])
    high = max(values) * 1.1 or 1.0
    # x on a log scale: the sizes grow geometrically, so each gets room.
    lo, hi = math.log(min(curve.xs)), math.log(max(curve.xs))
    span = (hi - lo) or 1.0

    def at(vx: float, vy: float) -> tuple[int, int]:
        return (
            left + round((right - left) * (math.log(vx) - lo) / span),
            bottom - round((bottom - top) * vy / high),
        )

    for tick in range(5):  # light grid at quarters of the scale, labelled
        ty = bottom - (bottom - top) * tick // 4
        canvas.rect(left, ty, right - left, 1, GRID)
        canvas.text(x + 10, ty - LINE_H // 2, _number(high * tick / 4))
    for vx in curve.xs:
        px, _ = at(vx, 0)
        canvas.rect(px, top, 1, bottom - top, GRID)
        label = f"{vx:,.0f}"
        canvas.text(px - len(label) * CHAR_W // 2, bottom + 6, label)
    canvas.text(left, bottom + 6 + LINE_H, x_label)
    for ys, color in ((curve.reference, BASELINE), (curve.ys, OURS)):
        if not ys:
            continue
        points = [at(vx, vy) for vx, vy in zip(curve.xs, ys, strict=True)]
        for (ax, ay), (bx, by) in itertools.pairwise(points):
            canvas.line(ax, ay, bx, by, color)
        for px, py in points:
            canvas.rect(px - 5, py - 5, 10, 10, color)
    for vx, vy in zip(curve.xs, curve.ys, strict=True):
        px, py = at(vx, vy)
        canvas.text(min(px + 8, right), py - LINE_H - 4, _number(vy), OURS)


def render_curves(curves: list[Curve], title: str, subtitle: str, x_label: str) -> bytes:
    rows = [curves[i : i + COLUMNS] for i in range(0, len(curves), COLUMNS)]
    canvas = Canvas(WIDTH, HEADER_H + len(rows) * CURVE_PANEL_H + 10)
    canvas.text(10, 8, title)
    canvas.text(10, 8 + LINE_H, _fit(subtitle, WIDTH // CHAR_W - 2))
    legend_y = 8 + 2 * LINE_H
    canvas.rect(10, legend_y, 20, 14, OURS)
    canvas.text(36, legend_y, "COMMANDCENTER")
    y = HEADER_H + 10
    for line in rows:
        for column, curve in enumerate(line):
            _draw_curve_panel(canvas, column * PANEL_W, y, curve, x_label)
        canvas.rect(0, y + CURVE_PANEL_H - 6, WIDTH, 1, GRID)
        y += CURVE_PANEL_H
    return canvas.png()
