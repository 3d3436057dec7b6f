"""A/B one benchmark between two checkouts: alternate runs, medians per figure, B/A ratio.

Runs ``benchmarks/NAME.py`` in checkout A (``--base``, e.g. a worktree of the previous commit)
and in checkout B (``--head``, default this repository) alternately, A, B, A, B, ... (``--runs``
of each, default 2) with the same arguments. Each run uses its own checkout's code: the working
directory is the checkout, ``PYTHONPATH`` is the checkout's ``src`` as an absolute path (so the
benchmark's subprocesses, which inherit it, import the same code whatever their working
directory), and the interpreter is the checkout's ``.venv/bin/python`` when it has one. Before the
first run, each side prints where ``ssmas`` is imported from, and the script stops if that is
not inside the checkout.

After each run the result JSON is read from that checkout's ``benchmarks/results/NAME.json``
(``NAME.quick.json`` with ``--quick``); a file older than the run's start is an error. Every
numeric figure (nested dicts flattened as ``outer.inner``; booleans and strings left out) is
summarised as the median over A's runs, the median over B's runs and B/A, with each side's
spread (max/min over its runs) and the load average (``os.getloadavg``) before and after every
run, so a difference can be set against the run-to-run noise on a shared machine.

Writes ``benchmarks/results/ab_NAME.json`` in this checkout (figures: per figure ``A``, ``B``,
``ratio``; ``runs``: every run's figures and load) even with ``--quick`` (the notes say so).
``--append`` adds the new runs to those of the existing ``ab_NAME.json`` (same commits, same
arguments) before taking the medians, to add pairs to a comparison the machine's load left open.

    .venv/bin/python benchmarks/ab.py NAME --base DIR [--head DIR] [--runs 2] [--quick] [-- ARGS]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import RESULTS, write_result

ROOT = Path(__file__).resolve().parents[1]


def _python(checkout: Path) -> str:
    venv = checkout / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def _env(checkout: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str((checkout / "src").resolve())}


def _commit(checkout: Path) -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=checkout,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def _check_imports(checkout: Path) -> str:
    """Where ``ssmas`` comes from for this side; it must be the checkout's own ``src``."""
    done = subprocess.run(
        [_python(checkout), "-c", "import ssmas; print(ssmas.__file__)"],
        capture_output=True,
        text=True,
        cwd=tempfile.gettempdir(),  # not the checkout: the path must not depend on the cwd
        env=_env(checkout),
        check=True,
    )
    where = done.stdout.strip()
    if not Path(where).resolve().is_relative_to((checkout / "src").resolve()):
        raise SystemExit(f"{checkout}: ssmas is imported from {where}, not from its src")
    return where


def _flatten(figures: dict[str, Any], prefix: str = "") -> dict[str, float]:
    flat: dict[str, float] = {}
    for key, value in figures.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _run_once(
    side: str, checkout: Path, name: str, args: list[str], quick: bool, logs: Path, i: int
) -> dict[str, Any]:
    stem = f"{name}.quick" if quick else name
    result = checkout / "benchmarks" / "results" / f"{stem}.json"
    cmd = [_python(checkout), f"benchmarks/{name}.py", *(["--quick"] if quick else []), *args]
    log = logs / f"{name}_{side}{i}.log"
    load_before = _load()
    start = time.time()
    print(f"[{time.strftime('%H:%M:%S')}] {side}{i}: {' '.join(cmd)} (load {load_before})")
    with log.open("wb") as out:
        done = subprocess.run(
            cmd, cwd=checkout, env=_env(checkout), stdout=out, stderr=subprocess.STDOUT, check=False
        )
    wall = time.time() - start
    load_after = _load()
    print(f"    {side}{i}: exit {done.returncode} in {wall:.0f} s (load {load_after}), log {log}")
    if done.returncode != 0 or not result.exists() or result.stat().st_mtime < start:
        tail = log.read_text(errors="replace")[-3000:]
        raise SystemExit(f"{side}{i} failed or wrote no fresh {result}:\n{tail}")
    body = json.loads(result.read_text())
    return {
        "side": side,
        "run": i,
        "commit": body.get("commit"),
        "wall_s": round(wall, 1),
        "load_before": load_before,
        "load_after": load_after,
        "figures": _flatten(body.get("figures", {})),
    }


def _spread(values: list[float]) -> float | None:
    low, high = min(values), max(values)
    if low <= 0:
        return None
    return round(high / low, 3)


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or a == 0:
        return None
    return round(b / a, 4)


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
        return f"{value:.4g}"
    return f"{value:.4f}".rstrip("0").rstrip(".") if value != int(value) else f"{int(value)}"


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    names: list[str] = []
    for run in runs:
        names += [k for k in run["figures"] if k not in names]
    table: dict[str, dict[str, Any]] = {}
    for key in names:
        a = [r["figures"][key] for r in runs if r["side"] == "A" and key in r["figures"]]
        b = [r["figures"][key] for r in runs if r["side"] == "B" and key in r["figures"]]
        a_med = round(statistics.median(a), 6) if a else None
        b_med = round(statistics.median(b), 6) if b else None
        table[key] = {
            "A": a_med,
            "B": b_med,
            "ratio": _ratio(a_med, b_med),
            "A_spread": _spread(a) if a else None,
            "B_spread": _spread(b) if b else None,
        }
    return table


def print_table(name: str, table: dict[str, dict[str, Any]], runs: list[dict[str, Any]]) -> None:
    width = max([len(k) for k in table] + [6])
    print(f"\nab_{name}: A = {runs[0]['commit']}, B = {runs[1]['commit']} (medians)")
    header = f"{'figure':<{width}}  {'A':>12}  {'B':>12}  {'B/A':>7}  {'A spr':>6}  {'B spr':>6}"
    print(header)
    print("-" * len(header))
    for key, row in table.items():
        print(
            f"{key:<{width}}  {_fmt(row['A']):>12}  {_fmt(row['B']):>12}  "
            f"{_fmt(row['ratio']):>7}  {_fmt(row['A_spread']):>6}  {_fmt(row['B_spread']):>6}"
        )
    print("\nload average (1, 5, 15 min) before -> after each run:")
    for run in runs:
        print(
            f"  {run['side']}{run['run']} ({run['commit']}): {run['load_before']} -> "
            f"{run['load_after']}, {run['wall_s']} s"
        )


def _previous_runs(name: str, arg_text: str, commits: dict[str, str]) -> list[dict[str, Any]]:
    """The runs of the last ``ab_NAME.json``, if it compared the same commits with the same args."""
    path = RESULTS / f"ab_{name}.json"
    if not path.exists():
        return []
    ab = json.loads(path.read_text()).get("ab", {})
    same = ab.get("args") == arg_text and all(
        ab.get(side, {}).get("commit") == commit for side, commit in commits.items()
    )
    if not same:
        raise SystemExit(f"--append: {path} compared other commits or arguments")
    return list(ab.get("runs", []))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="benchmark script name, e.g. api (benchmarks/api.py)")
    parser.add_argument("--base", type=Path, required=True, help="checkout A (previous commit)")
    parser.add_argument("--head", type=Path, default=ROOT, help="checkout B (default: this one)")
    parser.add_argument("--runs", type=int, default=2, help="runs of each side (default 2)")
    parser.add_argument("--quick", action="store_true", help="pass --quick to the benchmark")
    parser.add_argument("--size", default="", help="words for the notes on the size used")
    parser.add_argument(
        "--append",
        action="store_true",
        help="add these runs to those in results/ab_NAME.json (same commits and arguments)",
    )
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:cut])
    extra = argv[cut + 1 :]  # after "--": the benchmark's own arguments
    name = args.name.removesuffix(".py")
    sides = {"A": args.base.resolve(), "B": args.head.resolve()}
    for side, checkout in sides.items():
        if not (checkout / "benchmarks" / f"{name}.py").exists():
            raise SystemExit(f"{side}: {checkout}/benchmarks/{name}.py does not exist")
        print(f"{side}: {checkout} at {_commit(checkout)}, ssmas from {_check_imports(checkout)}")

    logs = Path(tempfile.mkdtemp(prefix=f"ab_{name}_"))
    runs: list[dict[str, Any]] = []
    arg_text = " ".join(["--quick"] * args.quick + extra) or "(none)"
    if args.append:
        runs = _previous_runs(name, arg_text, {s: _commit(c) for s, c in sides.items()})
    first = max((r["run"] for r in runs), default=0) + 1
    for i in range(first, first + args.runs):
        for side, checkout in sides.items():
            runs.append(_run_once(side, checkout, name, extra, args.quick, logs, i))

    table = summarise(runs)
    print_table(name, table, runs)
    commits = {side: _commit(checkout) for side, checkout in sides.items()}
    loads = [r["load_before"][0] for r in runs] + [r["load_after"][0] for r in runs]
    size = args.size or ("--quick" if args.quick else "the benchmark's default (full) size")
    notes = (
        f"benchmarks/{name}.py run alternately in A = {commits['A']} ({sides['A']}) and "
        f"B = {commits['B']} ({sides['B']}), {len(runs) // 2} runs each (A, B, A, B, ...), each "
        f"with its own code (PYTHONPATH = its src). Arguments: {arg_text}; size: {size}. Figures: "
        f"median of each side's runs and ratio = B/A (A_spread / B_spread: max/min over that "
        f"side's runs, the noise to set a ratio against). Load average (1 min) over the runs: "
        f"{min(loads)}-{max(loads)} on {os.cpu_count()} shared cores; per run in 'runs'."
    )
    figures = {
        key: {"A": row["A"], "B": row["B"], "ratio": row["ratio"]} for key, row in table.items()
    }
    path = write_result(f"ab_{name}", figures, notes)
    body = json.loads(path.read_text())
    body["ab"] = {
        "A": {"checkout": str(sides["A"]), "commit": commits["A"]},
        "B": {"checkout": str(sides["B"]), "commit": commits["B"]},
        "args": arg_text,
        "size": size,
        "spread": {k: {"A": r["A_spread"], "B": r["B_spread"]} for k, r in table.items()},
        "runs": runs,
    }
    path.write_text(json.dumps(body, indent=2) + "\n")
    print(f"\nwrote {path.relative_to(RESULTS.parent.parent)}")


if __name__ == "__main__":
    main()
