#!/usr/bin/env python
"""How long ``run``'s heatmap view takes to render (goal: under 0.5 s) for the benchmark
model of ``bench.py``: two stacked LSTM(256) over 1,000 steps of 64 features, batch 1,
written with h5py (no Keras needed). The forward pass is run once; then the heatmaps of
both layers (6 quantities each, and the input strip) are rendered into an in-memory
console, as ``Terminal.display`` renders them, at several terminal sizes, with truecolor
and without colour. Medians of ``--reps`` renderings; the forward pass is timed for scale.

    python benchmarks/heatmap.py [--reps 7] [--wait-idle SECONDS] [--json-out FILE]

The machine's CPU use by others is printed with the results (other processes slow every
number here alike; the ratio to the forward pass is steadier than the milliseconds).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: (label, columns, lines, colour system or None for no colour)
CASES = [
    ("80x24 truecolor", 80, 24, "truecolor"),
    ("200x50 truecolor", 200, 50, "truecolor"),
    ("200x50 256 colours", 200, 50, "256"),
    ("80x24 no colour", 80, 24, None),
    ("200x50 no colour", 200, 50, None),
]


def render_seconds(report, columns: int, lines: int, color_system, reps: int):
    """Median wall time of rendering the heatmap view, and the characters written."""
    from rich.console import Console

    from lstm_inspect.reports.heatmap import heatmap_renderables

    times, size = [], 0
    for _ in range(reps):
        out = io.StringIO()
        console = Console(file=out, width=columns, height=lines, color_system=color_system,
                          force_terminal=color_system is not None, no_color=color_system is None,
                          markup=False, highlight=False, emoji=False, soft_wrap=False)
        start = time.perf_counter()
        for r in heatmap_renderables(report):
            with console.capture() as captured:
                console.print(r)
            out.write(captured.get())
        times.append(time.perf_counter() - start)
        size = out.tell()
    return statistics.median(times), size


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                        help="wait up to this long for other processes to stop using the CPU first")
    parser.add_argument("--json-out")
    args = parser.parse_args(argv)

    import bench

    if args.wait_idle:
        bench.wait_until_idle(args.wait_idle)
    load = bench.ForeignLoad()
    load.start()

    import lstm_inspect
    from lstm_inspect.reports.run import run_report
    from lstm_inspect.reports.selection import Selection

    with tempfile.TemporaryDirectory() as directory:
        path = bench.h5py_make_models(directory)["paths"]["lstm"]
        model = lstm_inspect.load(path)
        x = bench.make_input(1, bench.STEPS, bench.FEATURES)
        start = time.perf_counter()
        report = run_report(model, x, Selection(samples=[0]))
        forward = time.perf_counter() - start
    results = {"forward_s": forward, "render": {}}
    print(f"2xLSTM({bench.UNITS}) x {bench.STEPS} steps, batch 1: run_report (forward pass, traced) "
          f"{forward * 1000:.0f} ms")
    for label, columns, lines, color_system in CASES:
        seconds, size = render_seconds(report, columns, lines, color_system, args.reps)
        results["render"][label] = {"seconds": seconds, "characters": size}
        verdict = "ok" if seconds < 0.5 else "OVER the 0.5 s goal"
        print(f"  heatmap view {label:<20} {seconds * 1000:7.1f} ms  {seconds / forward:5.2f}x the forward pass  "
              f"{size / 1000:8.1f} kB  {verdict}")
    results["foreign_load_cores"] = load.stop()
    print(f"other processes used {results['foreign_load_cores']:.2f} cores on average meanwhile")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
