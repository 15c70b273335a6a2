"""The terminal summary: one row per model with its headroom against each budget."""

from __future__ import annotations

import io
from typing import Any

from .units import format_bytes, format_seconds


def _cell(v: Any) -> str:
    return "—" if v is None else str(v)


def headroom_table(results: dict[str, dict[str, Any]], width: int = 110) -> list[str]:
    """Rich table rendered to lines (memory, n_max, latency, span) for pytest's summary."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from .report.formats import clean

    t = Table(show_header=True, header_style="bold", box=None)
    for col in (
        "model",
        "peak",
        "memory budget",
        "headroom",
        "n_max",
        "max_n",
        "latency",
        "P95 budget",
        "reach",
        "span",
    ):
        t.add_column(col, justify="left" if col == "model" else "right", no_wrap=True)
    for name, r in sorted(results.items()):
        # a probe that could not build the model shows as failed, not as the formula's figure
        peak = None if r.get("memory_probe_error") else r.get("peak_bytes", r.get("total_bytes"))
        budget = r.get("memory_budget")
        head = f"{(1 - peak / budget):.0%}" if peak is not None and budget else "—"
        lat = r.get("p95_ms")
        lat_s = (
            f"{lat:.1f} ms"
            if isinstance(lat, (int, float))
            else "probe failed"
            if r.get("latency_probe_error")
            else (
                format_seconds(r["latency_estimate_s"]) + " est."
                if r.get("latency_estimate_s")
                else "—"
            )
        )
        reach = "unlimited" if "reach" in r and r["reach"] is None else _cell(r.get("reach"))
        t.add_row(
            Text(clean(name)),  # a model's name is text, not rich markup
            "probe failed"
            if r.get("memory_probe_error")
            else format_bytes(peak)
            if peak is not None
            else "—",
            format_bytes(budget) if budget else "—",
            head,
            _cell(r.get("n_max")),
            _cell(r.get("max_n")),
            lat_s,
            format_seconds(r["p95_budget_s"]) if r.get("p95_budget_s") else "—",
            reach,
            _cell(r.get("span")),
        )
    buf = io.StringIO()
    Console(file=buf, width=width, no_color=True, markup=False).print(t)
    return buf.getvalue().rstrip("\n").splitlines()
