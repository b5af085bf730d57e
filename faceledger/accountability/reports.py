"""Calibration and fairness reports: a self-contained HTML page with PNG plots beside it."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from .calibration import GRID, GRID_STEP, Calibration
from .fairness import FairnessReport

TABLE_THRESHOLDS = (50.0, 60.0, 70.0, 75.9, 80.0, 85.0, 90.0, 95.0, 99.0)
SIZES = (10_000, 100_000, 1_000_000)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _bins(at_or_above: np.ndarray) -> np.ndarray:
    return at_or_above - np.append(at_or_above[1:], 0)


def det_points(cal: Calibration) -> tuple[np.ndarray, np.ndarray]:
    """(FMR, FNMR) at every grid threshold where both are defined on a log scale."""
    fmr = cal.impostor_at_or_above / cal.impostor_pairs
    fnmr = cal.genuine_below / cal.genuine_pairs
    keep = (fmr > 0) & (fnmr > 0)
    return fmr[keep], fnmr[keep]


def _det(ax, cal: Calibration, label: str | None) -> None:
    """One DET curve on log axes; a set with no error at any threshold has none to draw."""
    fmr, fnmr = det_points(cal)
    if len(fmr):
        ax.plot(fmr, fnmr, label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
    else:
        ax.text(
            0.5,
            0.5 if label is None else 0.1,
            f"{label or 'this set'}: no threshold has both error kinds",
            ha="center",
            transform=ax.transAxes,
        )


def calibration_plots(cal: Calibration, out: Path) -> dict[str, str]:
    plt = _pyplot()
    genuine = np.diff(np.append(cal.genuine_below, cal.genuine_pairs))  # per-bin counts
    impostor = _bins(cal.impostor_at_or_above)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 1.0  # one-point bins for the picture
    edges = np.arange(0, 100 + width, width)
    per = int(round(width / GRID_STEP))
    g = np.add.reduceat(genuine, np.arange(0, len(GRID), per))[: len(edges) - 1]
    i = np.add.reduceat(impostor, np.arange(0, len(GRID), per))[: len(edges) - 1]
    ax.bar(
        edges[:-1],
        g / max(1, g.sum()),
        width=width,
        align="edge",
        alpha=0.6,
        label=f"same person ({cal.genuine_pairs:,} pairs)",
    )
    ax.bar(
        edges[:-1],
        i / max(1, i.sum()),
        width=width,
        align="edge",
        alpha=0.6,
        label=f"different people ({cal.impostor_pairs:,} pairs)",
    )
    ax.set_yscale("log")
    ax.set_xlabel("similarity")
    ax.set_ylabel("share of pairs (log)")
    ax.set_title(f"Score distributions: {cal.name}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "histogram.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 5))
    _det(ax, cal, None)
    ax.set_xlabel("false match rate")
    ax.set_ylabel("false non-match rate")
    ax.set_title(f"DET curve: {cal.name}")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "det.png", dpi=110)
    plt.close(fig)
    return {"histogram": "histogram.png", "det": "det.png"}


def _page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}}
th{{background:#f3f3f3}}td:first-child,th:first-child{{text-align:left}}img{{max-width:100%}}</style>
</head><body>{body}</body></html>"""


def calibration_table(cal: Calibration) -> list[dict]:
    """What each threshold of the report's table means: FMR, its upper bound, FNMR, and the
    false candidates a search of 10k, 100k and 1M faces should expect."""
    return [
        {
            "Threshold": t,
            "FalseMatchRate": cal.fmr(t),
            "FalseMatchRateUpper95": cal.fmr_upper95(t),
            "FalseNonMatchRate": cal.fnmr(t),
            "ExpectedFalseCandidates": {str(n): n * cal.fmr(t) for n in SIZES},
        }
        for t in TABLE_THRESHOLDS
    ]


def calibration_report(cal: Calibration, out: Path) -> Path:
    plots = calibration_plots(cal, out)
    rows = []
    for row in calibration_table(cal):
        expected = "".join(f"<td>{v:,.1f}</td>" for v in row["ExpectedFalseCandidates"].values())
        rows.append(
            f"<tr><td>{row['Threshold']:g}</td><td>{row['FalseMatchRate']:.2e}</td>"
            f"<td>{row['FalseMatchRateUpper95']:.2e}</td>"
            f"<td>{row['FalseNonMatchRate']:.3f}</td>{expected}</tr>"
        )
    body = f"""<h1>Calibration: {html.escape(cal.name)}</h1>
<p>{html.escape(cal.description)}. Measured {html.escape(cal.created)}: {cal.faces:,} faces of
{cal.people:,} people, {cal.genuine_pairs:,} same-person pairs and {cal.impostor_pairs:,}
different-person pairs. Rates below {cal.smallest_resolvable_fmr():.1e} cannot be told apart from
zero with this many pairs.</p>
<h2>What a threshold means</h2>
<p>The false match rate (FMR) is the share of different-person comparisons scoring at or above the
threshold; one search of a collection of N faces makes N comparisons, so it should expect
<b>N &times; FMR</b> false candidates.</p>
<table><tr><th>threshold</th><th>FMR</th><th>FMR, 95% upper bound</th><th>FNMR</th>
<th>false candidates per search, 10k faces</th><th>100k faces</th><th>1M faces</th></tr>
{"".join(rows)}</table>
<h2>Score distributions</h2>
<img src="{plots["histogram"]}" alt="histograms of same-person and different-person similarity scores">
<h2>DET curve</h2><img src="{plots["det"]}" alt="false non-match rate against false match rate">"""
    path = out / "report.html"
    path.write_text(_page(f"faceledger calibration: {cal.name}", body))
    return path


def fairness_report(report: FairnessReport, out: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 5))
    for g in report.groups:
        _det(ax, g.cal, g.group)
    ax.set_xlabel("false match rate (impostor pairs within the group)")
    ax.set_ylabel("false non-match rate")
    ax.set_title("DET curves by group")
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "det_by_group.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar([g.group for g in report.groups], [g.fmr for g in report.groups])
    ax.set_yscale("log")
    ax.set_ylabel(f"FMR at threshold {report.threshold:g}")
    ax.set_title("False match rate by group")
    fig.tight_layout()
    fig.savefig(out / "fmr_by_group.png", dpi=110)
    plt.close(fig)

    rows = "".join(
        f"<tr><td>{html.escape(g.group)}</td><td>{g.people:,}</td><td>{g.faces:,}</td>"
        f"<td>{g.cal.impostor_pairs:,}</td>"
        f"<td>{g.fmr:.2e}</td><td>{g.fmr_upper95:.2e}</td><td>{g.fnmr:.3f}</td>"
        f"<td>{'' if g.fmr_ratio is None else f'{g.fmr_ratio:.2f}'}</td></tr>"
        for g in report.groups
    )
    body = f"""<h1>Error rates by group</h1>
<p>At the deployed threshold {report.threshold:g}. False match rates are measured over impostor pairs
within each group (both faces from the group), as NIST's demographic study does; the ratio compares
each group's FMR with the lowest observed. {report.ungrouped_faces} faces had no group and were left out.</p>
<table><tr><th>group</th><th>people</th><th>faces</th><th>impostor pairs</th><th>FMR</th>
<th>FMR, 95% upper</th><th>FNMR</th><th>FMR / lowest</th></tr>{rows}</table>
<h2>DET curves</h2><img src="det_by_group.png" alt="DET curve for each group">
<h2>False match rate</h2><img src="fmr_by_group.png" alt="false match rate of each group at the threshold">
<p>This is the evidence an accountability report needs (for example under Washington's SB 6280): it
shows how the system's errors differ between the groups of the people it will be used on.</p>"""
    path = out / "report.html"
    path.write_text(_page("faceledger fairness report", body))
    (out / "report.json").write_text(json.dumps(report.to_dict(), indent=2))  # for the web UI
    return path
