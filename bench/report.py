"""Figures, goals, cost, and the markdown / JSON / PNG outputs of a benchmark run."""

from __future__ import annotations

import json
import math
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

# AWS Lambda, US East (N. Virginia), x86, first pricing tier: https://aws.amazon.com/lambda/pricing/ (as published
# on 2026-11-25; unchanged since the 1 ms billing change of December 2020).
PRICE_PER_GB_SECOND = 0.0000166667
PRICE_PER_REQUEST = 0.20 / 1_000_000
PRICES_AS_OF = "2026-11-25"
TUTORIAL_MEMORY_MB = 5000


def fitting_memory_mb(peak_rss_mb: float) -> int:
    """Smallest Lambda memory with 25% headroom over the peak RSS, rounded up to 64 MB (at least 128)."""
    return max(128, math.ceil(peak_rss_mb * 1.25 / 64) * 64)


def invocation_cost(duration_s: float, memory_mb: int) -> float:
    """Dollars for one invocation: the request fee plus GB-seconds billed in 1 ms steps."""
    billed_s = math.ceil(duration_s * 1000) / 1000
    return PRICE_PER_REQUEST + PRICE_PER_GB_SECOND * memory_mb / 1024 * billed_s


def machine() -> str:
    """CPU model, cores and Python version of this machine."""
    cpu = "unknown CPU"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def verdict(ratio: float | None, goal: str) -> str:
    """PASS or MISS for a goal written as '<= x' or '>= x' on the project/reference ratio."""
    if ratio is None or math.isnan(ratio) or not goal:
        return "not measured" if goal else ""
    op, bound = goal.split()[-2:]
    return "PASS" if (ratio <= float(bound) if op == "<=" else ratio >= float(bound)) else "MISS"


# Goals on the project/reference ratio, and (ABSOLUTE_GOALS) on the project's own figure.
GOALS = {"cold start (s, median)": "<= 0.25", "warm batch (ms, median)": "<= 0.1",
         "warm batch, 2 BLAS threads (ms, median)": "<= 0.1", "prediction core, 1 BLAS thread (ms, median)": "<= 0.1",
         "prediction core, 2 BLAS threads (ms, median)": "<= 0.1", "peak RSS (MB)": "<= 0.5",
         "model artifact (bytes)": "<= 0.1", "runtime dependencies (bytes)": "<= 0.33", "accuracy": ">= 1"}
ABSOLUTE_GOALS = {"prediction core (rows/s per thread, 1 thread)": ">= 25000"}


def build_rows(figures: dict, judged: bool = True) -> list[dict]:
    """One row per figure: reference, project, ratio, goal and verdict ('not judged' when judged is False)."""
    rows = []
    for name, (reference, project) in figures.items():
        ratio = project / reference if reference not in (None, 0) and project is not None else None
        if name in ABSOLUTE_GOALS:
            goal, result = f"project {ABSOLUTE_GOALS[name]}", verdict(project, ABSOLUTE_GOALS[name])
        else:
            goal = GOALS.get(name, "")
            result = verdict(ratio, goal)
        if goal and not judged:
            result = "not judged (quick)"
        rows.append({"figure": name, "reference": reference, "project": project, "ratio": ratio, "goal": goal,
                     "verdict": result})
    return rows


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 100 or abs(value) >= 10_000:
        return f"{round(value):,}"
    return f"{value:.4g}" if abs(value) >= 0.001 else f"{value:.3g}"


def markdown(rows: list[dict], meta: dict) -> str:
    """The results table with the run's context."""
    lines = [f"# Benchmark: project vs reference ({meta['date']})", "",
             f"- Machine: {meta['machine']}", f"- Dataset: {meta['dataset']}; batch of {meta['batch_rows']} rows",
             f"- Method: {meta['method']}",
             f"- **Component default memory: {meta['project_memory_mb']} MB** (components/args.py): the project's peak "
             f"RSS on the largest requests it accepts (10,000 float rows as .npy, a 6 MB .json, a 16 MB .csv) was "
             f"{_fmt(meta['project_largest_rss_mb'])} MB, which with 25% headroom, rounded up to 64 MB, needs "
             f"{meta.get('needed_memory_mb', meta['project_memory_mb'])} MB",
             f"- Prices: AWS Lambda x86, us-east-1, ${PRICE_PER_GB_SECOND} per GB-second and $0.20 per 1M requests "
             f"(aws.amazon.com/lambda/pricing, as of {PRICES_AS_OF}); reference priced at the tutorial's "
             f"{TUTORIAL_MEMORY_MB} MB, project at {meta['project_memory_mb']} MB", "",
             "| figure | reference | project | project/reference | goal | result |", "|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['figure']} | {_fmt(row['reference'])} | {_fmt(row['project'])} | "
                     f"{_fmt(row['ratio'])} | {row['goal'].replace('<=', '≤').replace('>=', '≥')} | {row['verdict']} |")
    lines += ["", *meta.get("notes", [])]
    return "\n".join(lines) + "\n"


def chart(rows: list[dict], path: Path) -> None:
    """A log-scale bar chart of project/reference ratios with each goal marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in rows if r["ratio"] is not None and not math.isnan(r["ratio"]) and r["ratio"] > 0]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(shown) + 1.5))
    ax.barh([r["figure"] for r in shown], [r["ratio"] for r in shown],
            color=["tab:red" if r["verdict"] == "MISS" else "tab:green" for r in shown])
    for i, row in enumerate(shown):
        if row["goal"] and row["figure"] not in ABSOLUTE_GOALS:  # absolute goals are not on the ratio axis
            ax.plot([float(row["goal"].split()[-1])] * 2, [i - 0.4, i + 0.4], color="black")
    ax.set_xscale("log")
    ax.axvline(1, color="grey", linestyle=":")
    ax.set_xlabel("project / reference (log scale; black ticks: goals)")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(rows: list[dict], meta: dict, out: Path) -> None:
    """latest.md, latest.json and ratios.png in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.md").write_text(markdown(rows, meta))
    (out / "latest.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2, default=str) + "\n")
    chart(rows, out / "ratios.png")


def now() -> str:
    """Today's date and time in UTC."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
