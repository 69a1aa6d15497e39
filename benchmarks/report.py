"""compare.py's outputs: OUT/compare.json, the two plots and the comparison section of
benchmarks/RESULTS.md."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS_MD = Path(__file__).resolve().parent / "RESULTS.md"


def write_summary(results: dict[str, Any], out: Path, partial: bool,
                  history: list[dict[str, Any]] | None = None,
                  ran: list[str] | None = None) -> dict[str, Any]:
    """The summary of ``results`` (per model), written atomically to OUT/compare.json.
    ``history``: the earlier runs whose models a ``--merge`` run kept; ``ran``: this run's."""
    import zkml

    summary = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "versions": {"ezkl": _version("ezkl"), "zkml": zkml.__version__,
                     "torch": _version("torch"), "onnxruntime": _version("onnxruntime")},
        "command": " ".join(["python", "benchmarks/compare.py", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d"),
        "models": results,
        "median_prove_ratio": statistics.median(r["prove_ratio"] for r in results.values()),
        "partial": partial,
    }
    if history:
        summary["history"] = [*history, {"command": summary["command"],
                                         "date": summary["date"], "models": ran or []}]
    tmp = out / "compare.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2))
    tmp.replace(out / "compare.json")
    return summary


def _version(pkg: str) -> str:
    from importlib.metadata import version

    return version(pkg)


def write_plots(summary: dict[str, Any], out: Path) -> None:
    """OUT/prove_time.png (per model) and OUT/prove_vs_logrows.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ms = summary["models"]
    names = list(ms)
    xs = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.bar(xs - 0.2, [ms[n]["default"]["prove_s"] for n in names], 0.4, label="ezkl default")
    ax.bar(xs + 0.2, [ms[n]["tuned"]["prove_s"] for n in names], 0.4, label="zkml tuned")
    ax.set_xticks(xs, names, rotation=20)
    ax.set_yscale("log")
    ax.set_ylabel("prove time (s, log)")
    ax.set_title("Prove time per model")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "prove_time.png", dpi=120)
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label, mark in (("default", "ezkl default", "o"), ("tuned", "zkml tuned", "s")):
        ax.scatter([ms[n][key]["logrows"] for n in names],
                   [ms[n][key]["prove_s"] for n in names], label=label, marker=mark)
    for n in names:
        ax.annotate(n, (ms[n]["tuned"]["logrows"], ms[n]["tuned"]["prove_s"]), fontsize=7)
    ax.set_yscale("log")
    ax.set_xlabel("logrows")
    ax.set_ylabel("prove time (s, log)")
    ax.set_title("Prove time against logrows")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "prove_vs_logrows.png", dpi=120)


def markdown(summary: dict[str, Any], plots: str) -> str:
    """The comparison section: a table row per model, the tuner's decisions, the plots (found
    in the folder ``plots``)."""
    ms = summary["models"]
    first = summary.get("history", [summary])[0]
    lines = [
        "## Side-by-side: ezkl default flow vs zkml tuned vs onnxruntime",
        "",
        f"Command: `{first['command']}` ({first['date']}; {summary['machine']['cpus']} "
        f"cores; ezkl {summary['versions']['ezkl']}, torch {summary['versions']['torch']}, "
        f"onnxruntime {summary['versions']['onnxruntime']}). One run per cell; private input, "
        "fixed params, public output; setup = keys + Solidity verifier (zkml.setup writes both; "
        "the ezkl flow does the same calls); prove = witness + proof; RSS added = the "
        "process's peak resident memory minus its resident memory just before setup (each run "
        "its own process; process peaks in the next column); gas = verifyProof transaction on "
        "anvil.",
        "",
        "| model | logrows a / b | setup a / b (s) | prove a / b (s) | prove b/a | setup+prove "
        "RSS added a / b (MB) | RSS b/a | process peak a / b (MB) | max err a / b | accuracy ok"
        " | verify gas a / b | zk overhead b/ort | warm overhead |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, r in ms.items():
        d, t, g = r["default"], r["tuned"], r["gas"]
        lines.append(
            f"| {n} | {d['logrows']} / {t['logrows']} | {d['setup_s']:.2f} / {t['setup_s']:.2f}"
            f" | {d['prove_s']:.2f} / {t['prove_s']:.2f} | {r['prove_ratio']:.2f} | "
            f"{d['prove_rss'] / 1e6:.0f} / {t['prove_rss'] / 1e6:.0f} | {r['rss_ratio']:.2f} | "
            f"{d['peak_rss'] / 1e6:.0f} / {t['peak_rss'] / 1e6:.0f} | "
            f"{d['max_abs_error']:.3g} / {t['max_abs_error']:.3g} | "
            f"{'yes' if r['accuracy_ok'] else 'NO'} | {g['default']:,} / {g['tuned'] or 0:,} | "
            f"{r['zk_overhead']:.3g}x | {r['warm']['overhead']:+.1%} |")
    for h in summary.get("history", [])[1:]:
        lines += ["", f"Re-run with `{h['command']}` ({h['date']}): {', '.join(h['models'])}."]
    lines += _accuracy_table(ms)
    lines += [
        "",
        f"Median prove-time ratio tuned/default: **{summary['median_prove_ratio']:.2f}**.",
        "",
        "Tuner decisions:",
        "",
    ]
    for n, r in ms.items():
        cfg = r["tune"]["config"]
        lines.append(f"- {n}: decomp {cfg['decomp_base']}^{cfg['decomp_legs']}, cols "
                     f"{cfg['num_inner_cols']}, scales {cfg['scales'] or 'auto'} - "
                     f"{r['tune']['message']} (tuning took {r['tune']['tune_s']:.0f}s)")
    lines += ["", f"![prove time per model]({plots}/prove_time.png)",
              f"![prove time against logrows]({plots}/prove_vs_logrows.png)", ""]
    return "\n".join(lines)


def _accuracy_table(ms: dict[str, Any]) -> list[str]:
    """Estimators (tree ensembles): accuracy on the held-out split, float and proven."""
    est = {n: r["estimator"] for n, r in ms.items() if "estimator" in r}
    if not est:
        return []
    lines = [
        "",
        "Accuracy vs the original estimator, on the whole held-out split: the estimator's own "
        "predictions, its ONNX graph under onnxruntime (float), and the class decoded from "
        "each circuit's witness for every row (what a proof of that row publishes; a row the "
        "circuit refuses counts as wrong); agreement = same class as the estimator.",
        "",
        "| model | rows | estimator acc | ONNX float acc / agreement | a: ezkl default acc / "
        "agreement | b: zkml tuned acc / agreement | rows refused a / b |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, e in est.items():
        d, t = e["default"], e["tuned"]
        lines.append(
            f"| {n} | {e['rows']} | {e['estimator_accuracy']:.2%} | {e['onnx_accuracy']:.2%} / "
            f"{e['onnx_agreement']:.2%} | {d['accuracy']:.2%} / {d['agreement']:.2%} | "
            f"{t['accuracy']:.2%} / {t['agreement']:.2%} | {d['refused']} / {t['refused']} |")
    return lines


def write_results_md(summary: dict[str, Any], plots: str) -> None:
    """Replace (or append) the section between the compare markers in RESULTS.md."""
    from results_md import replace_section

    replace_section("<!-- compare:start -->", "<!-- compare:end -->", markdown(summary, plots),
                    RESULTS_MD)
