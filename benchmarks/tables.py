"""Markdown pieces shared by every suite's ``summary.md``: number formats and tables.

Pure formatting (no numpy, no plotting), so every report module can import it without
importing another suite.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

__all__ = ["fmt", "mean_se_cell", "panel_title", "table"]


def fmt(x: float | None, digits: int = 3) -> str:
    """``x`` with ``digits`` decimals; scientific notation for very small or large
    values; ``-`` for ``None``."""
    if x is None:
        return "-"
    small = 1e-2 if digits >= 3 else 1e-3
    if x != 0 and (abs(x) < small or abs(x) >= 1e5):
        return f"{x:.2e}"
    return f"{x:.{digits}f}"


def mean_se_cell(entry: Mapping[str, Any] | None, digits: int = 3) -> str:
    """``mean ± se`` of a :func:`~benchmarks.metrics.mean_se` entry (``-`` without one)."""
    if not entry or entry.get("mean") is None:
        return "-"
    return f"{fmt(entry['mean'], digits)} ± {fmt(entry['se'], digits)}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """The lines of a Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def panel_title(group: str) -> str:
    """Title of a group of tasks (``all`` or ``key=value``) in plots and tables."""
    if group == "all":
        return "all tasks"
    key, value = group.split("=", 1)
    return f"{value}-D" if key in ("dimension", "dim") else f"{key} = {value}"
