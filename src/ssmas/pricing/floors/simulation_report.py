"""The floor simulation's outputs: a Rich table, a PNG plot and a JSON file under the data dir.

Files go to ``<data_dir>/pricing/floorsim/<held-out day>.{json,png}`` and are copied to
``latest.{json,png}``, which the dashboard reads (:func:`latest_report`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from rich.table import Table

from ssmas.pricing.floors.simulation import FloorSimReport
from ssmas.settings import Settings

LABELS = {
    "none": "no floor",
    "static": "best static floor",
    "seed": "seed dynamic floor",
    "tuned": "tuned dynamic floor",
}


def floorsim_dir(settings: Settings) -> Path:
    return settings.data_dir / "pricing" / "floorsim"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:+.2f}%"


def render_table(report: FloorSimReport) -> Table:
    """One row per policy: revenue, RPM, fill rate, uplift over the best static floor."""
    table = Table(
        title=f"Floor policies replayed on {report.held_out_day} "
        f"({report.auctions:,} auctions, model v{report.model_version})"
    )
    for column in ("policy", "rule", "revenue EUR", "RPM EUR", "fill rate", "vs static", "95% CI",
                   "fill Δ pts"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("policy", "rule") else "right")
    for name, p in report.policies.items():
        ci = p.uplift_ci95_pct
        table.add_row(
            LABELS.get(name, name),
            p.rule,
            f"{p.revenue_eur:,.2f}",
            f"{p.rpm_eur:.4f}",
            f"{100 * p.fill_rate:.2f}%",
            _pct(p.uplift_vs_static_pct),
            "" if ci is None else f"[{ci[0]:+.2f}, {ci[1]:+.2f}]",
            "" if p.fill_change_vs_static_pts is None else f"{p.fill_change_vs_static_pts:+.2f}",
        )
    return table


def render_control(report: FloorSimReport) -> Table | None:
    """Treated against control revenue per auction, as the live exchange measures it."""
    if not report.control:
        return None
    table = Table(title="Control share (unfloored) inside each dynamic policy")
    for column in ("policy", "control share", "treated RPM", "control RPM", "lift", "95% CI"):
        table.add_column(column, justify="left" if column == "policy" else "right")
    for c in report.control:
        table.add_row(
            LABELS.get(c.policy, c.policy),
            f"{100 * c.share:.0f}%",
            f"{c.treated_rpm_eur:.4f}",
            f"{c.control_rpm_eur:.4f}",
            _pct(c.lift_pct),
            f"[{c.lift_ci95_pct[0]:+.2f}, {c.lift_ci95_pct[1]:+.2f}]",
        )
    return table


def write_plot(report: FloorSimReport, path: Path) -> Path:
    """Left: revenue of each static floor on the training days; right: the held-out day."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    from ssmas.web.charts import format_number

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    if report.static_curve:
        floors, revenue = zip(*report.static_curve, strict=True)
        left.plot(floors, revenue, color="#4c72b0")
        left.axvline(report.static_floor, color="#c44e52", linestyle="--",
                     label=f"best: {report.static_floor:.2f} EUR")  # fmt: skip
        left.set_xlabel("uniform floor (EUR CPM)")
        left.set_ylabel("revenue on training days (EUR)")
        left.set_title("Static floor search (training days)")
        left.legend()
    names = list(report.policies)
    values = [report.policies[n].revenue_eur for n in names]
    colors = ["#8c8c8c", "#4c72b0", "#dd8452", "#55a868"][: len(names)]
    bars = right.bar([LABELS.get(n, n) for n in names], values, color=colors)
    for bar, name in zip(bars, names, strict=True):
        p = report.policies[name]
        text = f"{100 * p.fill_rate:.1f}% fill"
        if p.uplift_vs_static_pct is not None:
            text = f"{p.uplift_vs_static_pct:+.1f}%\n" + text
        right.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                       ha="center", va="bottom", fontsize=8)  # fmt: skip
    right.set_ylabel("revenue (EUR)")
    right.set_title(f"Held-out day {report.held_out_day}")
    right.set_ylim(0, max(values) * 1.2 if values else 1)
    right.tick_params(axis="x", labelsize=8)
    for axis in (left.yaxis, right.yaxis):  # 160,322 rather than 1.6 and a "1e5" offset
        axis.set_major_formatter(FuncFormatter(lambda value, _pos: format_number(value)))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(report: FloorSimReport, out_dir: Path) -> tuple[Path, Path]:
    """Write ``<day>.json`` and ``<day>.png`` (and ``latest.*`` copies); return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = report.held_out_day.isoformat()
    json_path = out_dir / f"{stem}.json"
    json_path.write_text(json.dumps(report.to_dict(), indent=2, default=str) + "\n")
    png_path = write_plot(report, out_dir / f"{stem}.png")
    shutil.copyfile(json_path, out_dir / "latest.json")
    shutil.copyfile(png_path, out_dir / "latest.png")
    return json_path, png_path


def latest_report(settings: Settings) -> dict[str, Any] | None:
    """The last simulation written under the data dir, or None."""
    path = floorsim_dir(settings) / "latest.json"
    if not path.exists():
        return None
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded
