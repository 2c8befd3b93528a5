"""Write an evaluation's results: ``eval.json`` (every number), ``eval.md`` (a table) and
``dsc_vs_clicks.png`` (mean DSC against clicks, shaded mean +- std, one line per method).

All three go to ``<out>/<name>/``; each file is written to a temporary name and renamed, so
a reader never sees half a file.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
from matplotlib.ticker import MaxNLocator  # noqa: E402

from lib.atomic import write_atomically  # noqa: E402
from lib.evaluation.summary import NOC_TARGETS  # noqa: E402

#: Click counts shown in the Markdown table (those within the run's max_clicks).
TABLE_CLICKS: tuple[int, ...] = (0, 1, 2, 5, 10, 15, 20)


def write_png(figure: "plt.Figure", path: str | Path, dpi: int = 110) -> Path:
    """Lay out ``figure``, write it to ``path`` as PNG (temp + rename) and close it."""
    figure.tight_layout()
    write_atomically(path, lambda tmp: figure.savefig(tmp, dpi=dpi, format="png"))
    plt.close(figure)
    return Path(path)


def json_safe(value: object) -> object:
    """``value`` with nan and inf replaced by None (strict JSON has neither) and numpy scalars as floats."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown_table(result: dict) -> str:
    """The Markdown summary of :func:`lib.evaluation.harness.evaluate`'s result."""
    max_clicks = result["max_clicks"]
    ks = [k for k in TABLE_CLICKS if k <= max_clicks]
    header = (
        ["method"] + [f"DSC@{k}" for k in ks] + [f"NoC@{t}" for t in NOC_TARGETS]
        + ["worse clicks", f"HD95@{max_clicks} (mm)", f"ASSD@{max_clicks} (mm)", "s/answer"]
    )
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, summary in result["methods"].items():
        cells = [name] + [_number(summary["dsc_at_clicks"][str(k)]) for k in ks]
        cells += [
            f"{_number(summary['noc'][t], 1)} ({_number(100 * summary['noc_failed'][t], 0)}% fail)" for t in NOC_TARGETS
        ]
        worse = summary["worse_click_fraction"]
        cells += [
            _number(worse),
            _number(summary["at_last_click"]["hd95_mm"], 1),
            _number(summary["at_last_click"]["assd_mm"], 1),
            _number(summary["seconds_per_answer"], 3),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    first = "empty prediction" if result["first_click"] == "empty" else "the automatic answer"
    mode = (
        f"shared clicks (simulated against `{result['reference']}`, replayed to every method)"
        if result["click_mode"] == "shared"
        else "own clicks (each method's clicks simulated against its own answers)"
    )
    notes = [
        f"Cases: {len(result['cases'])} ({', '.join(result['cases'])}). Simulator: `{result['simulator']}`, "
        f"{mode}; first click chosen against the {first}; up to {max_clicks} clicks; seed {result['seed']}.",
        "DSC@k: mean Dice after k clicks. NoC@t: mean clicks to reach DSC >= t (a case that never does "
        f"counts as {max_clicks}; the failed fraction in brackets). Worse clicks: fraction of clicks after "
        "which DSC dropped. HD95/ASSD: mean at the last click. s/answer: mean segmenter time per answer.",
    ]
    title = f"# Interactive evaluation: {result.get('name', '')}".rstrip(": ")
    return "\n".join([title, "", *lines, "", *notes, ""])


def plot_dsc_vs_clicks(result: dict, path: Path) -> None:
    """Mean DSC against clicks with a shaded +- std band, one line per method, saved as PNG."""
    ks = list(range(result["max_clicks"] + 1))
    figure, axes = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for name, summary in result["methods"].items():
        mean = [summary["dsc_at_clicks"][str(k)] for k in ks]
        std = [summary["dsc_std_at_clicks"][str(k)] for k in ks]
        mean = [math.nan if m is None else m for m in mean]
        std = [0.0 if s is None else s for s in std]
        (line,) = axes.plot(ks, mean, marker="o", markersize=3, label=name)
        lower = [max(m - s, 0.0) for m, s in zip(mean, std)]
        upper = [min(m + s, 1.0) for m, s in zip(mean, std)]
        axes.fill_between(ks, lower, upper, color=line.get_color(), alpha=0.2, linewidth=0)
    axes.set_xlabel("clicks")
    axes.set_ylabel("DSC (mean ± std over cases)")
    axes.set_ylim(0.0, 1.0)
    axes.set_xlim(0, max(ks[-1], 1))
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(alpha=0.3)
    axes.set_title(f"{result.get('name', '')} - {len(result['cases'])} cases, {result['simulator']}, "
                   f"{result['click_mode']} clicks", fontsize=9)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, format="png")
    plt.close(figure)


def write_report(result: dict, out: str | Path, name: str) -> dict[str, Path]:
    """Write ``eval.json``, ``eval.md`` and ``dsc_vs_clicks.png`` into ``<out>/<name>/``.

    Args:
        result: :func:`lib.evaluation.harness.evaluate`'s result (extra keys are kept in the JSON).
        out: the results folder (``results``).
        name: the run's name; its folder is created if absent.

    Returns:
        {"json": path, "md": path, "png": path}.
    """
    result = {"name": name, **result}
    folder = Path(out) / name
    paths = {
        "json": write_atomically(
            folder / "eval.json",
            lambda p: p.write_text(json.dumps(json_safe(result), indent=1, allow_nan=False) + "\n"),
        ),
        "md": write_atomically(folder / "eval.md", lambda p: p.write_text(markdown_table(result))),
        "png": write_atomically(folder / "dsc_vs_clicks.png", lambda p: plot_dsc_vs_clicks(result, p)),
    }
    return paths
