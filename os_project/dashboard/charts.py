"""Chart geometry computed on the server: the admin draws it as CSS bars and inline SVG, no JS library."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    key: str
    label: str
    value: float
    display: str
    percent: float  # of the widest bar, 0..100


def horizontal_bars(rows: Iterable[tuple[str, str, float, str]]) -> list[Bar]:
    """``(key, label, value, display)`` rows as bars sized against the largest value."""
    rows = list(rows)
    largest = max((value for _, _, value, _ in rows), default=0)
    return [Bar(key=key, label=label, value=value, display=display,
                percent=round(100 * value / largest, 1) if largest > 0 else 0.0)
            for key, label, value, display in rows]


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    value: int
    x: float
    y: float
    width: float
    height: float
    tick: bool  # whether its label is printed under the axis

    @property
    def value_y(self) -> float:
        return round(self.y - 3, 1)


@dataclass(frozen=True)
class ColumnChart:
    width: int
    height: int
    baseline: float
    largest: int
    columns: list[Column]


def column_chart(points: Sequence[tuple[str, str, int]], *, width: int = 480, height: int = 200,
                 gap: float = 3, label_every: int = 5, axis: float = 18, headroom: float = 16) -> ColumnChart:
    """``(key, label, value)`` points as SVG columns over a baseline (``viewBox="0 0 width height"``)."""
    baseline = height - axis
    drawable = baseline - headroom
    largest = max((value for _, _, value in points), default=0)
    slot = width / len(points) if points else width
    columns = []
    for index, (key, label, value) in enumerate(points):
        bar_height = round(drawable * value / largest, 1) if largest > 0 else 0.0
        columns.append(Column(key=key, label=label, value=value, x=round(index * slot + gap / 2, 1),
                              y=round(baseline - bar_height, 1), width=round(max(slot - gap, 1), 1),
                              height=bar_height,
                              tick=(len(points) - 1 - index) % label_every == 0))
    return ColumnChart(width=width, height=height, baseline=baseline, largest=largest, columns=columns)


def format_duration(seconds: float) -> str:
    """``4500`` -> ``"1 h 15 min"``: how long something took, to the precision a person cares about."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"
