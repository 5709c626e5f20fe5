#!/usr/bin/env python
"""A/B benchmark of two source trees of lstm-inspect: start-up and the forward pass.

    python benchmarks/ab.py A_DIR B_DIR [--rounds N] [--quick] [--json-out FILE]

A_DIR and B_DIR are checkouts (e.g. a worktree of an old commit and the current tree).
Every measurement runs in a fresh subprocess of the same interpreter with
``PYTHONPATH=<tree>`` and the tree as working directory, so ``import lstm_inspect`` resolves
to that tree (checked, and printed, once per tree). A and B alternate within every round
and the order flips from round to round (AB, BA, AB, ...), so drift of the machine hits
both alike.

1. start-up   wall time of ``python -m lstm_inspect gates sample_models/seed.h5`` (one copy
              of the file, used by both trees), many alternating runs per round.
2. forward    ``lstm_inspect.run_model(model, [x])`` on the models of ``bench.py`` (2 stacked
              LSTM(256) and 2 stacked GRU(256), 1,000 steps of 64 features, weights written
              once with h5py, as ``bench.py`` does without Keras), batch 1 and 32: a fresh
              subprocess per tree, case and round loads the model, runs it once to warm up,
              then times a few calls; the median of those calls is that round's value.

Only the public API (``lstm_inspect.load``, ``lstm_inspect.run_model``) is used, so trees
from before and after the package reorganisation can be compared. The outputs of A and B
are compared (largest absolute difference) in the first round.

Reported per measurement: the median over all values of A and of B, B/A, the min-max
of each, and the range of the per-round ratios B/A (paired within a round).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench  # noqa: E402  (stdlib only at import; h5py/numpy inside the functions used)

SEED_MODEL = bench.SEED_MODEL  # "sample_models/seed.h5"
CASES = [(cell, batch) for cell in ("lstm", "gru") for batch in (1, 32)]

# Run in the child with ``-c`` from the tree's directory: sys.path[0] is the tree.
_PROBE = "import json, sys, lstm_inspect; print(json.dumps({'file': lstm_inspect.__file__, 'version': lstm_inspect.__version__}))"

_FORWARD_CHILD = r"""
import json, statistics, sys, time
import numpy as np
import lstm_inspect

path, batch, steps, features, reps, out_npy, result_json = sys.argv[1:8]
batch, steps, features, reps = int(batch), int(steps), int(features), int(reps)
model = lstm_inspect.load(path)
x = np.random.default_rng(1234).standard_normal((batch, steps, features), dtype=np.float32)  # as bench.make_input

def once():
    t0 = time.perf_counter()
    result = lstm_inspect.run_model(model, [x])
    return time.perf_counter() - t0, result

warm, result = once()
if out_npy != "-":
    np.save(out_npy, np.asarray(result.outputs[0]))
del result
times = []
for _ in range(reps):
    t, result = once()
    del result
    times.append(t)
with open(result_json, "w") as fh:
    json.dump({"times": times, "median": statistics.median(times), "warmup": warm,
               "file": lstm_inspect.__file__}, fh)
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Tree:
    def __init__(self, label: str, path: str):
        self.label = label
        self.path = Path(path).resolve()
        if not (self.path / "lstm_inspect" / "__init__.py").is_file():
            raise SystemExit(f"{path}: no lstm_inspect/__init__.py there (not a checkout of lstm-inspect)")
        self.commit = _git(self.path, "rev-parse", "--short", "HEAD") or "?"
        if _git(self.path, "status", "--porcelain", "--untracked-files=no", "--", "lstm_inspect"):
            self.commit += " (lstm_inspect/ modified)"
        self.module_file = None
        self.version = None


def _git(path: Path, *args) -> str:
    try:
        p = subprocess.run(["git", "-C", str(path), *args], check=False, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ""
    return p.stdout.strip() if p.returncode == 0 else ""


def child_env(tree: Tree, base: dict) -> dict:
    env = dict(base)
    env["PYTHONPATH"] = str(tree.path)  # this tree only, no other PYTHONPATH entries
    return env


def run_child(cmd, tree: Tree, env: dict, timeout: float = 900, stdout=subprocess.DEVNULL):
    p = subprocess.run(cmd, check=False, cwd=tree.path, env=child_env(tree, env), stdout=stdout, stderr=subprocess.PIPE,
                       timeout=timeout)
    if p.returncode != 0:
        raise SystemExit(f"{tree.label} ({tree.path}): {' '.join(map(str, cmd))} failed with exit code "
                         f"{p.returncode}:\n{p.stderr.decode(errors='replace')[-2000:]}")
    return p


def check_tree(tree: Tree, python: str, env: dict) -> None:
    p = run_child([python, "-c", _PROBE], tree, env, stdout=subprocess.PIPE)
    info = json.loads(p.stdout.decode().strip().splitlines()[-1])
    tree.module_file, tree.version = info["file"], info["version"]
    if Path(info["file"]).resolve().parent.parent != tree.path:
        raise SystemExit(f"{tree.label}: `import lstm_inspect` resolved to {info['file']}, not to {tree.path}")
    log(f"{tree.label}: {tree.path} (commit {tree.commit}): lstm_inspect from {tree.module_file}")


def timed_startup(tree: Tree, python: str, seed: str, env: dict) -> float:
    cmd = [python, "-m", "lstm_inspect", "gates", seed]
    t0 = time.perf_counter()
    run_child(cmd, tree, env)
    return time.perf_counter() - t0


def timed_forward(tree: Tree, python: str, model_path: str, batch: int, reps: int, workdir: str,
                  env: dict, out_npy: str = "-") -> dict:
    result_json = os.path.join(workdir, f"forward_{tree.label}.json")
    cmd = [python, "-c", _FORWARD_CHILD, model_path, str(batch), str(bench.STEPS), str(bench.FEATURES),
           str(reps), out_npy, result_json]
    run_child(cmd, tree, env)
    with open(result_json) as fh:
        r = json.load(fh)
    if Path(r["file"]).resolve().parent.parent != tree.path:
        raise SystemExit(f"{tree.label}: the forward child imported {r['file']}, not {tree.path}")
    return r


def order(round_index: int, trees):
    """AB in even rounds, BA in odd ones (ABBA over two rounds)."""
    return list(trees) if round_index % 2 == 0 else list(reversed(trees))


def summarise(name: str, a_values, b_values) -> dict:
    """Medians over all values; paired per-round ratios when both lists have one value per round."""
    a_med, b_med = statistics.median(a_values), statistics.median(b_values)
    row = {"measurement": name, "a_median_s": a_med, "b_median_s": b_med, "ratio": b_med / a_med,
           "a_min_s": min(a_values), "a_max_s": max(a_values), "b_min_s": min(b_values), "b_max_s": max(b_values),
           "n_a": len(a_values), "n_b": len(b_values)}
    if len(a_values) == len(b_values):
        ratios = [b / a for a, b in zip(a_values, b_values)]
        row["paired_ratio_median"] = statistics.median(ratios)
        row["paired_ratio_min"], row["paired_ratio_max"] = min(ratios), max(ratios)
    return row


def fmt_ms(s: float) -> str:
    return f"{s * 1e3:.0f} ms" if s < 10 else f"{s:.1f} s"


def print_report(results: dict) -> None:
    a, b = results["trees"]["A"], results["trees"]["B"]
    print("\n## A/B: lstm-inspect source trees\n")
    print(f"- A: {a['path']} (commit {a['commit']}), lstm_inspect from {a['module_file']}")
    print(f"- B: {b['path']} (commit {b['commit']}), lstm_inspect from {b['module_file']}")
    m = results["machine"]
    print(f"- {m['cpu']}, {m.get('cores_usable', m['cores'])} cores; Python {m['python']} ({results['python']}); "
          f"threads: {results['threads'] or 'default (unset)'}")
    args = results["args"]
    print(f"- {args['rounds']} rounds, A and B alternating (AB, BA, ...); start-up: {args['startup_per_round']} runs "
          f"per tree and round; forward: 1 warm-up + {args['reps']} timed calls per subprocess, one subprocess per "
          f"tree, case and round (its median is the round's value)")
    print(f"- machine busy before: {results['busy_before']:.0%}; other processes used "
          + ", ".join(f"{k} {v:.2f}" for k, v in results["foreign_cores"].items())
          + f" cores on average; load average at the end {results['loadavg_end']}")
    if results["busy_before"] > 0.15 or any(v > 0.1 for v in results["foreign_cores"].values()):
        print("- WARNING: other processes used the CPU during the run; the numbers are noisy.")
    print("\n| measurement | A median | B median | B/A | A min–max | B min–max | per-round B/A: median (min–max) | "
          "in every pairing |")
    print("|---|---:|---:|---:|---|---|---|---|")
    for r in results["rows"]:
        paired, every = "", ""
        if "paired_ratio_median" in r:
            paired = f"{r['paired_ratio_median']:.3f} ({r['paired_ratio_min']:.2f}–{r['paired_ratio_max']:.2f})"
            if r["n_a"] < 5:  # with fewer pairs, agreement by chance is too likely (2 x 0.5^n)
                every = f"({r['n_a']} pairs: too few)"
            else:
                every = ("B slower" if r["paired_ratio_min"] > 1.0 else "B faster" if r["paired_ratio_max"] < 1.0
                         else "mixed")
        print(f"| {r['measurement']} | {fmt_ms(r['a_median_s'])} | {fmt_ms(r['b_median_s'])} | {r['ratio']:.3f} | "
              f"{fmt_ms(r['a_min_s'])}–{fmt_ms(r['a_max_s'])} | {fmt_ms(r['b_min_s'])}–{fmt_ms(r['b_max_s'])} | "
              f"{paired} | {every} |")
    if results.get("max_abs_diff"):
        print("\nA and B outputs, max |A - B|: " + ", ".join(f"{k} {v:.3g}" for k, v in results["max_abs_diff"].items()))
    if "gates_stdout_identical" in results:
        print(f"`gates` output of A and B identical: {'yes' if results['gates_stdout_identical'] else 'NO'}")
    for w in results.get("warnings", []):
        print(f"\nWARNING: {w}")
    print(f"\nwall time of this run: {results['wall_s']:.0f} s")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a_dir", metavar="A_DIR", help="checkout A (e.g. the old commit)")
    parser.add_argument("b_dir", metavar="B_DIR", help="checkout B (e.g. the new code)")
    parser.add_argument("--rounds", type=int, help="rounds of alternating A/B measurements (default 6, quick 2)")
    parser.add_argument("--quick", action="store_true", help="2 rounds, 5 start-ups per tree and round, 2 timed calls")
    parser.add_argument("--reps", type=int, help="timed run_model calls per subprocess (default 3, quick 2)")
    parser.add_argument("--startup-per-round", type=int, help="start-ups per tree and round (default 10, quick 5)")
    parser.add_argument("--only", action="append", choices=["startup", "forward"], help="run only this part (repeatable)")
    parser.add_argument("--threads", type=int, help="set OMP/OPENBLAS/MKL/... thread counts for the children (default: unset)")
    parser.add_argument("--python", default=sys.executable, help="interpreter for the children (default: this one)")
    parser.add_argument("--json-out", metavar="FILE", help="write every raw timing and the summary to this JSON file")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (2 if args.quick else 6)
    args.reps = args.reps or (2 if args.quick else 3)
    args.startup_per_round = args.startup_per_round or (5 if args.quick else 10)
    parts = set(args.only or ["startup", "forward"])
    started = time.perf_counter()

    trees = [Tree("A", args.a_dir), Tree("B", args.b_dir)]
    if trees[0].path == trees[1].path:
        log(f"note: A and B are the same tree ({trees[0].path}); the table shows the noise of this machine")
    env = dict(os.environ)
    env["NO_COLOR"] = "1"
    if args.threads:
        for var in bench.THREAD_VARS:
            env[var] = str(args.threads)
    # byte-code caches as after a pip install, the same for both trees, kept out of the trees
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    workdir = tempfile.mkdtemp(prefix="lstm-inspect-ab-")
    env["PYTHONPYCACHEPREFIX"] = os.path.join(workdir, "pycache")

    results = {"machine": bench.machine_info(), "python": args.python, "threads": args.threads,
               "args": {"rounds": args.rounds, "reps": args.reps, "startup_per_round": args.startup_per_round,
                        "quick": args.quick, "parts": sorted(parts)},
               "busy_before": bench.cpu_busy_fraction(), "trees": {}, "rows": [], "raw": {}, "foreign_cores": {},
               "max_abs_diff": {}}
    try:
        for t in trees:
            check_tree(t, args.python, env)
            results["trees"][t.label] = {"path": str(t.path), "commit": t.commit, "module_file": t.module_file,
                                         "version": t.version}

        if "startup" in parts:
            # one copy of the seed model for both trees (from B; A's is reported if it differs)
            seed = os.path.join(workdir, SEED_MODEL)
            os.makedirs(os.path.dirname(seed))
            shutil.copyfile(trees[1].path / SEED_MODEL, seed)
            a_seed = trees[0].path / SEED_MODEL
            if a_seed.exists() and a_seed.read_bytes() != Path(seed).read_bytes():
                log(f"note: {a_seed} differs from B's; both trees use B's copy")
            outs = {}
            for t in trees:  # warm-ups (byte-code caches, page cache) and the output check
                p = run_child([args.python, "-m", "lstm_inspect", "gates", seed], t, env, stdout=subprocess.PIPE)
                outs[t.label] = p.stdout
                timed_startup(t, args.python, seed, env)
            results["gates_stdout_identical"] = outs["A"] == outs["B"]
            log(f"start-up: {args.rounds} rounds x {args.startup_per_round} runs per tree ...")
            times = {"A": [], "B": []}
            foreign = bench.ForeignLoad().start()
            k = 0
            for _round in range(args.rounds):
                for _ in range(args.startup_per_round):
                    for t in order(k, trees):
                        times[t.label].append(timed_startup(t, args.python, seed, env))
                    k += 1
            results["foreign_cores"]["start-up"] = foreign.stop()
            results["raw"]["startup"] = times
            results["rows"].append(summarise("start-up: `python -m lstm_inspect gates seed.h5`", times["A"], times["B"]))

        if "forward" in parts:
            import numpy as np

            log("writing the benchmark models (h5py, Keras 2 .h5 layout, as bench.py without Keras) ...")
            made = bench.h5py_make_models(workdir)
            paths = made["paths"]
            foreign = bench.ForeignLoad().start()
            per_case = {f"{cell}_b{batch}": {"A": [], "B": [], "A_calls": [], "B_calls": []} for cell, batch in CASES}
            for r in range(args.rounds):
                for ci, (cell, batch) in enumerate(CASES):
                    key = f"{cell}_b{batch}"
                    log(f"forward: round {r + 1}/{args.rounds}, 2x{cell.upper()}({bench.UNITS}) batch {batch} ...")
                    for t in order(r + ci, trees):
                        out_npy = os.path.join(workdir, f"out_{t.label}_{key}.npy") if r == 0 else "-"
                        res = timed_forward(t, args.python, paths[cell], batch, args.reps, workdir, env, out_npy)
                        per_case[key][t.label].append(res["median"])
                        per_case[key][f"{t.label}_calls"].append(res["times"])
                    if r == 0:
                        a_out = np.load(os.path.join(workdir, f"out_A_{key}.npy"))
                        b_out = np.load(os.path.join(workdir, f"out_B_{key}.npy"))
                        if a_out.shape != b_out.shape:
                            raise SystemExit(f"{key}: output shapes differ, A {a_out.shape}, B {b_out.shape}")
                        results["max_abs_diff"][key] = float(np.abs(a_out.astype(np.float64) - b_out).max())
            results["foreign_cores"]["forward"] = foreign.stop()
            results["raw"]["forward"] = per_case
            for cell, batch in CASES:
                key = f"{cell}_b{batch}"
                results["rows"].append(summarise(
                    f"forward: 2x{cell.upper()}({bench.UNITS}) T={bench.STEPS} F={bench.FEATURES} batch {batch}",
                    per_case[key]["A"], per_case[key]["B"]))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    results["loadavg_end"] = tuple(round(v, 2) for v in os.getloadavg())
    for t in trees:  # a tree that moved during the run (a merge, a checkout) makes the table meaningless
        now = Tree(t.label, str(t.path)).commit
        if now != t.commit:
            results.setdefault("warnings", []).append(f"{t.label} changed during the run: {t.commit} -> {now}")
    results["wall_s"] = time.perf_counter() - started
    print_report(results)
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump(results, fh, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
