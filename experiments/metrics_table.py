"""Markdown tables of an evaluate stage's metrics.json (the README's and docs/model.md's result
tables): per level, RMSE [interval] (R^2_prior) of every predictor, then the reference's paired
RMSE difference with each baseline [interval], P(< 0) and "beats"; for a gaussian head the
coverage of its calibrated intervals (metrics.json's `uncertainty` block).

    python experiments/metrics_table.py results/workstation/evaluate/metrics.json [--levels ...]
"""
from __future__ import annotations

import argparse
import json
import sys

NAMES = {"network": "network (mean of samples)", "network_box": "**network + box band powers + statistics**",
         "network_stats": "**network + sample statistics**", "summary_ridge": "summary statistics + ridge",
         "summary": "summary statistics + trees", "pk_ridge": "P(k) ridge", "mean": "mean predictor",
         "box_pk_ridge": "box band-power ridge", "box_stats_ridge": "box band powers + mean statistics, ridge"}

REFERENCE = {"sample_level": "network_stats", "simulation_level": "network_box"}  # else the network


def table(block: dict, labels: list[str], ref: str) -> str:
    head = "| predictor | " + " | ".join(f"{n} RMSE [95 %] (R^2_prior)" for n in labels) + " |"
    lines = [head, "|---" * (len(labels) + 1) + "|"]
    order = [ref] + [p for p in block["metrics"] if p != ref]
    for p in order:
        cells = []
        for n in labels:
            m = block["metrics"][p][n]
            lo, hi = m["interval"]["rmse"]
            cell = f"{m['rmse']:.4f} [{lo:.4f}, {hi:.4f}] ({m['r2_prior']:.2f})"
            cells.append(f"**{cell}**" if p == ref else cell)
        lines.append(f"| {NAMES.get(p, p)} | " + " | ".join(cells) + " |")
    for comp, per in block["comparisons"].items():
        other = comp.split("_vs_", 1)[1]
        cells = []
        for n in labels:
            c = per[n]
            cells.append(f"{c['diff_rmse']:+.4f} [{c['interval'][0]:+.4f}, {c['interval'][1]:+.4f}], "
                         f"{c['frac_below_zero']:.3f}" + (" beats" if c["beats"] else ""))
        lines.append(f"| {NAMES.get(ref, ref).strip('*')} - {NAMES.get(other, other)}: RMSE difference "
                     f"[95 %], P(< 0) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def coverage_table(unc: dict, labels: list[str]) -> str:
    """Coverage [interval] (radius, method) of the 68.27 % and 95 % intervals, mean width, RMSE."""
    lines = ["| level | parameter | 68.27 % interval | 95 % interval | mean width | RMSE |",
             "|---|---|---|---|---:|---:|"]
    for level in ("per_sample", "per_simulation"):
        for n in labels:
            b = unc[level][n]
            cells = []
            for q in ("0.6827", "0.95"):
                c = b["coverage"][q]
                lo, hi = c["interval"]
                cells.append(f"{c['value']:.3f} [{lo:.3f}, {hi:.3f}] (r {c['radius']:.2f}"
                             + (", rms" if c["method"] == "rms" else "") + ")")
            lines.append(f"| {level.replace('_', ' ')} | {n} | " + " | ".join(cells)
                         + f" | {b['mean_sd']:.4f} | {b['rmse']:.4f} |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("metrics")
    p.add_argument("--levels", nargs="+",
                   default=["per_sample", "sample_level", "per_simulation", "simulation_level"])
    args = p.parse_args()
    m = json.load(open(args.metrics))
    for level in args.levels:
        if level not in m:
            continue
        ref = REFERENCE.get(level, "network")
        print(f"{level}:\n\n{table(m[level], m['label_names'], ref)}\n")
    if m.get("uncertainty"):
        u = m["uncertainty"]
        n_cal, split = (u["n_calibration_sims"], u["calibration_split"]) if "calibration_split" in u \
            else (u["n_val_sims"], "val")  # metrics.json written before sims.n_cal
        print(f"uncertainty (radii fitted on {n_cal} {split} simulations):\n\n"
              f"{coverage_table(m['uncertainty'], m['label_names'])}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
